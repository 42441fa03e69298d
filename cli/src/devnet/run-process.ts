import { spawn } from "node:child_process";

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they arrived, interleaved. */
  out: string;
}

/** Runs a command to its end (stdin closed) and collects what it printed; for the e2e tests. */
export function runProcess(
  cmd: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<ProcessRun> {
  return new Promise((done, fail) => {
    const p = spawn(cmd, args, {
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    const run: ProcessRun = { code: null, stdout: "", stderr: "", out: "" };
    p.stdout.on("data", (b: Buffer) => {
      run.stdout += b.toString();
      run.out += b.toString();
    });
    p.stderr.on("data", (b: Buffer) => {
      run.stderr += b.toString();
      run.out += b.toString();
    });
    p.on("error", fail);
    p.on("close", (code) => done({ ...run, code }));
  });
}
