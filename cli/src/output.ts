import { BaseError, networkErrorOf, toBaseError } from "@ncn/protocol";

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
  let err = networkErrorOf(e, { lost: true }) ?? toBaseError(e);
  if (err.code === "UNAVAILABLE" && /\/\/(127\.0\.0\.1|localhost)[:/]/.test(err.shortMessage)) {
    err = new BaseError("UNAVAILABLE", `${err.shortMessage}; is the devnet running? (\`npm start\`)`, {
      details: err.details,
      cause: err,
    });
  }
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

/** What a request's progress events say, for people. */
function describeProgress(e: {
  state: string;
  stage?: string | undefined;
  progress?: number | undefined;
}): string | undefined {
  if (e.stage === "download")
    return `the agent is downloading the model${e.progress === undefined ? "" : ` ${Math.round(e.progress * 100)}%`}`;
  if (e.stage === "started") return "running";
  switch (e.state) {
    case "received":
      return "queued";
    case "payment_checked":
      return "payment checked";
    case "dispatched":
      return "sent to an agent";
    case "result_signed":
      return "validating the result";
    case "completion_validated":
      return "validated; charging";
    default:
      return undefined;
  }
}

/**
 * Progress of a long request on stderr (not with --json): each new stage once, the model
 * download in steps of a quarter; on a terminal one line, rewritten.
 */
export function progressPrinter(
  json: boolean,
): ((e: { state: string; stage?: string | undefined; progress?: number | undefined }) => void) | undefined {
  if (json) return undefined;
  const tty = process.stderr.isTTY;
  let last = "";
  return (e) => {
    let text = describeProgress(e);
    if (text === undefined) return;
    if (e.stage === "download" && e.progress !== undefined && !tty) {
      text = `the agent is downloading the model ${Math.floor(e.progress * 4) * 25}%`;
    }
    if (text === last) return;
    last = text;
    if (tty) process.stderr.write(`\r\x1b[2K  … ${text}`);
    else process.stderr.write(`  - ${text}\n`);
  };
}

/** Ends a terminal progress line before the result is printed. */
export function endProgress(json: boolean): void {
  if (!json && process.stderr.isTTY) process.stderr.write("\r\x1b[2K");
}
