import { BaseError } from "@ncn/protocol";
import { PrivateDirError } from "@ncn/protocol/private-dir";
import { ConfigError } from "../errors.ts";

/**
 * Runs a command body, turning failures into a message on stderr and an exit code:
 * 2 for configuration problems (every one listed), 1 for anything else.
 */
export async function runCli(body: () => Promise<number | undefined>): Promise<void> {
  try {
    process.exitCode = (await body()) ?? 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PrivateDirError) {
      process.stderr.write(
        `ncn-agent: invalid configuration:\n${e.problems.map((p) => `  - ${p}`).join("\n")}\n`,
      );
      process.exitCode = 2;
    } else if (e instanceof BaseError) {
      process.stderr.write(`ncn-agent: ${e.code}: ${e.shortMessage}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`ncn-agent: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  }
}
