import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { multiaddr } from "@multiformats/multiaddr";
import { tempDir } from "../test-support/cluster.ts";
import { connectSocket } from "./tcp-transport.ts";

const dir = tempDir();
let server: net.Server;
let port = 0;

beforeAll(async () => {
  server = net.createServer((socket) => socket.on("error", () => {}));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => {
  server.close();
  dir.cleanup();
});

/**
 * Dials the test server through `factory` in a separate process, aborting each dial while
 * its socket is still connecting (synchronously after `dial`), as `libp2p.stop()` does to
 * dials in flight. An orphaned socket error would end that process.
 */
async function abortDials(
  module: string,
  factory: string,
): Promise<{ code: number; out: string; err: string }> {
  const file = join(dir.path, `dial-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(
    file,
    `import { multiaddr } from ${JSON.stringify(Bun.resolveSync("@multiformats/multiaddr", import.meta.dir))};
import { ${factory} } from ${JSON.stringify(module)};
const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false });
log.newScope = () => log;
const transport = ${factory}()({ logger: { forComponent: () => log } });
const outcomes = [];
for (let i = 0; i < 5; i++) {
  const ac = new AbortController();
  const dial = transport.dial(multiaddr("/ip4/127.0.0.1/tcp/${port}"), { signal: ac.signal, upgrader: {} });
  ac.abort();
  outcomes.push(await dial.then(() => "connected", (e) => e.name));
}
await Bun.sleep(200);
console.log(JSON.stringify(outcomes));
`,
  );
  const proc = Bun.spawn([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out, err };
}

describe("abortSafeTcp", () => {
  test("a dial aborted while its socket connects fails with AbortError and leaves no uncaught error", async () => {
    const r = await abortDials(join(import.meta.dir, "tcp-transport.ts"), "abortSafeTcp");
    expect(r.out.trim()).toBe(JSON.stringify(Array(5).fill("AbortError")));
    expect(r.err).not.toContain("AbortError");
    expect(r.code).toBe(0);
  });

  test("the same dials through plain @libp2p/tcp end the process (what abortSafeTcp prevents)", async () => {
    const r = await abortDials(Bun.resolveSync("@libp2p/tcp", import.meta.dir), "tcp");
    expect(r.err).toContain("AbortError: The operation was aborted");
    expect(r.code).not.toBe(0);
  });
});

describe("connectSocket", () => {
  test("resolves with the connected socket", async () => {
    const ac = new AbortController();
    const socket = await connectSocket(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { signal: ac.signal });
    expect(socket.remotePort).toBe(port);
    socket.destroy();
  });

  test("rejects with the socket's error when nothing listens", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const free = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const dial = connectSocket(multiaddr(`/ip4/127.0.0.1/tcp/${free}`), {
      signal: new AbortController().signal,
    });
    await expect(dial).rejects.toThrow(`connection error 127.0.0.1:${free}`);
  });

  test("refuses an address that is not TCP", async () => {
    const dial = connectSocket(multiaddr("/ip4/127.0.0.1/udp/1"), { signal: new AbortController().signal });
    await expect(dial).rejects.toThrow("not a TCP address");
  });
});
