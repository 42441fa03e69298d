import { toBaseError } from "@ncn/protocol";

/** Prints a result as JSON (`--json`) or through a human formatter. */
export function output(json: boolean, value: unknown, human: () => string): void {
  if (json) process.stdout.write(`${JSON.stringify(value, bigintReplacer, 2)}\n`);
  else process.stdout.write(`${human()}\n`);
}

export function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

/** Prints an error (typed when possible) and sets a non-zero exit code. */
export function fail(e: unknown, json: boolean): void {
  const err = toBaseError(e);
  if (json) process.stdout.write(`${JSON.stringify(err.toBody(), bigintReplacer, 2)}\n`);
  else {
    process.stderr.write(`error [${err.code}]: ${err.shortMessage}\n`);
    if (err.details !== undefined)
      process.stderr.write(`${JSON.stringify(err.details, bigintReplacer, 2)}\n`);
  }
  process.exitCode = 1;
}

/** A one-line progress indicator on a terminal, silent otherwise. */
export function step(json: boolean) {
  const tty = process.stderr.isTTY && !json;
  const t0 = performance.now();
  return {
    start(label: string) {
      if (tty) process.stderr.write(`  … ${label}`);
      else if (!json) process.stderr.write(`  - ${label}\n`);
    },
    done(label: string, detail = "") {
      const ms = Math.round(performance.now() - t0);
      if (tty) process.stderr.write(`\r\x1b[2K  ✔ ${label}${detail ? ` ${detail}` : ""} (${ms} ms)\n`);
      else if (!json) process.stderr.write(`  ✔ ${label}${detail ? ` ${detail}` : ""} (${ms} ms)\n`);
    },
  };
}
