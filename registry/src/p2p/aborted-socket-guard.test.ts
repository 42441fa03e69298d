import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../test-support/cluster.ts";

const dir = tempDir();
afterAll(() => dir.cleanup());

async function run(body: string): Promise<{ code: number; out: string }> {
  const file = join(dir.path, `script-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(
    file,
    `import net from "node:net";
import { guardAbortedSockets } from ${JSON.stringify(join(import.meta.dir, "aborted-socket-guard.ts"))};
import { createLogger } from ${JSON.stringify(join(import.meta.dir, "..", "logger.ts"))};
guardAbortedSockets(createLogger("t", { level: "silent" }));
${body}
setTimeout(() => console.log("alive"), 300);
`,
  );
  const proc = Bun.spawn([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  return { code: await proc.exited, out };
}

describe("guardAbortedSockets", () => {
  test("an aborted dial's orphaned AbortError does not end the process", async () => {
    // What @libp2p/tcp does on an aborted dial: signal given to net.connect, error listener gone.
    const r = await run(`
const ac = new AbortController();
const socket = net.connect({ host: "10.255.255.1", port: 9, signal: ac.signal }); // never answers
const onError = () => {};
socket.on("error", onError);
setTimeout(() => { socket.removeListener("error", onError); ac.abort(); }, 10);`);
    expect(r.out).toContain("alive");
    expect(r.code).toBe(0);
  });

  test("any other uncaught error still ends the process", async () => {
    const r = await run(`setTimeout(() => { throw new Error("real bug"); }, 10);`);
    expect(r.out).not.toContain("alive");
    expect(r.code).toBe(1);
  });
});
