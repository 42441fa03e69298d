import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { PythonSandboxError } from "./errors.ts";
import { DEFAULT_MAXIMA } from "./limits.ts";
import { type PythonRuntimeOptions, runPythonTask } from "./run-python-task.ts";
import type { SandboxMaxima, TaskLimits } from "./schemas.ts";

export interface SandboxRunCommandOptions extends PythonRuntimeOptions {
  readonly maxima?: SandboxMaxima | undefined;
  /** Where the JSON answer goes (default: process stdout). */
  readonly write?: ((text: string) => void) | undefined;
}

export const SANDBOX_RUN_USAGE =
  "usage: ncn-agent sandbox run FILE.py [--input JSON] [--timeout SECONDS] [--memory MB]";

const PARSE_OPTIONS = {
  input: { type: "string" },
  timeout: { type: "string" },
  memory: { type: "string" },
} as const;

const positive = (name: string) =>
  v.pipe(
    v.string(),
    v.transform(Number),
    v.number(`${name} must be a number`),
    v.finite(`${name} must be a number`),
    v.gtValue(0, `${name} must be positive`),
  );

const Flags = v.object({
  input: v.optional(v.string()),
  timeout: v.optional(positive("--timeout")),
  memory: v.optional(v.pipe(positive("--memory"), v.integer("--memory must be a whole number of MB"))),
});

/**
 * `ncn-agent sandbox run FILE.py [--input JSON] [--timeout S] [--memory MB]`:
 * runs one file in the sandbox and prints one JSON object:
 * `{"ok":true,"result":...,"stdout":...,"stderr":...,"exitCode":0,"usage":{...}}` or
 * `{"ok":false,"error":{"code","message","details"}}`.
 * Returns the process exit code: 0 success, 1 the task failed, 2 bad usage.
 *
 * @example process.exitCode = await sandboxRunCommand(["job.py", "--input", "[1,2]", "--timeout", "5"]);
 */
export async function sandboxRunCommand(
  argv: readonly string[],
  options: SandboxRunCommandOptions = {},
): Promise<number> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const answer = (body: unknown) => write(`${JSON.stringify(body)}\n`);
  const usage = (message: string) => {
    answer({ ok: false, error: { code: "usage", message: `${message}\n${SANDBOX_RUN_USAGE}` } });
    return 2;
  };

  let parsed: ReturnType<typeof parseArgs<{ options: typeof PARSE_OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: PARSE_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  if (parsed.positionals.length !== 1) return usage("expected exactly one FILE.py");
  const flags = v.safeParse(Flags, parsed.values);
  if (!flags.success) return usage(v.summarize(flags.issues));
  const file = parsed.positionals[0] as string;

  let input: unknown = null;
  if (flags.output.input !== undefined) {
    try {
      input = JSON.parse(flags.output.input);
    } catch (error) {
      return usage(`--input is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  let source: Uint8Array;
  try {
    source = new Uint8Array(await readFile(file));
  } catch (error) {
    return usage(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }

  const limits: TaskLimits = {};
  if (flags.output.timeout !== undefined) {
    limits.wallMs = Math.round(flags.output.timeout * 1000);
    limits.cpuSeconds = Math.ceil(flags.output.timeout);
  }
  if (flags.output.memory !== undefined) limits.memoryMb = flags.output.memory;

  try {
    const run = await runPythonTask({ source, input, limits }, options.maxima ?? DEFAULT_MAXIMA, options);
    answer({ ok: true, ...run });
    return 0;
  } catch (error) {
    if (error instanceof PythonSandboxError) {
      answer({ ok: false, error: error.toJSON() });
      return 1;
    }
    throw error;
  }
}
