import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineCommand } from "citty";
import * as v from "valibot";
import { runChaos } from "../devnet/chaos.ts";
import { formatChaosReport } from "../devnet/chaos-report.ts";
import { type Devnet, startDevnet } from "../devnet/devnet.ts";
import { bigintReplacer, fail } from "../output.ts";

const Count = (min: number) =>
  v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(min));
const ChaosArgs = v.object({
  requests: Count(1),
  kills: Count(0),
  seed: v.optional(Count(0)),
});

export const chaosCommand = defineCommand({
  meta: {
    name: "chaos",
    description:
      "Start a devnet, run paid load while agents, validators and the gateway are killed (SIGKILL) and restarted at seeded random moments, then reconcile every request, session and balance",
  },
  args: {
    requests: { type: "string", default: "2000", description: "Requests to send (API and stream)" },
    kills: { type: "string", default: "12", description: "Kills, the three kinds in turn" },
    seed: { type: "string", description: "Seed of the kill schedule (default: random, printed)" },
    json: { type: "boolean", description: "Print the report as JSON" },
    keep: { type: "boolean", description: "Keep the devnet's folder (logs) afterwards" },
  },
  async run({ args }) {
    const json = Boolean(args.json);
    const parsed = v.safeParse(ChaosArgs, { requests: args.requests, kills: args.kills, seed: args.seed });
    if (!parsed.success) {
      for (const issue of parsed.issues)
        process.stderr.write(`--${v.getDotPath(issue) ?? "?"}: ${issue.message}\n`);
      process.exitCode = 2;
      return;
    }
    const { requests, kills } = parsed.output;
    const seed = parsed.output.seed ?? Math.floor(Math.random() * 2 ** 31);
    const t0 = performance.now();
    const say = (line: string) =>
      process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
    say(`chaos seed ${seed} (replay with --seed ${seed}): ${requests} requests, ${kills} kills`);
    const home = mkdtempSync(join(tmpdir(), "ncn-chaos-"));
    let devnet: Devnet | undefined;
    const shutdown = async () => {
      await devnet?.stop();
      if (args.keep) say(`devnet folder kept: ${home}`);
      else rmSync(home, { recursive: true, force: true });
    };
    process.on("SIGINT", () => void shutdown().then(() => process.exit(130)));
    try {
      devnet = await startDevnet({
        dir: join(home, ".ncn"),
        port: 0,
        onStep: (label, detail) => say(`${label}${detail ? `  ${detail}` : ""}`),
        // Receipts attested by a validator that is down only briefly still settle with it.
        gatewayVars: { SETTLE_INTERVAL_MS: "1500", SETTLE_RELEASE_AFTER_MS: "20000" },
      });
      const report = await runChaos(devnet, { requests, kills, seed, onEvent: say });
      const text = json
        ? `${JSON.stringify(report, bigintReplacer, 2)}\n`
        : `\n${formatChaosReport(report)}\n`;
      // Written out before the process ends (see below).
      await new Promise<void>((done) => process.stdout.write(text, () => done()));
      process.exitCode = report.ok ? 0 : 1;
    } catch (e) {
      say(`chaos seed ${seed}: the run itself failed`);
      fail(e, json);
    } finally {
      await shutdown();
      // The report is out and every devnet process is stopped. A gateway killed mid-run can
      // leave Miniflare's local listeners open in this process (seen 1 run in 3): end now
      // rather than linger after the verdict.
      process.exit(process.exitCode ?? 0);
    }
  },
});
