import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import {
  ErrorBody,
  gatewayAuthorization,
  makeGatewayToken,
  VALIDATE_SOCKET_PATH,
  VALIDATION_SOCKET_CLOSE,
  VALIDATION_SOCKET_MAX_MESSAGE_BYTES,
} from "@ncn/protocol";
import * as v from "valibot";
import type { RegistryNode } from "../node.ts";
import { startTestNode, tempDir, waitFor } from "../test-support/cluster.ts";
import { gatewayHeader, validationSocket } from "../test-support/gateway.ts";
import { addressOf, newAccount } from "../test-support/records.ts";

const gateway = newAccount();
const PER_ADDRESS = 3;
let node: RegistryNode;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  node = await startTestNode(dir.path, {
    config: { trustedGateways: [addressOf(gateway)] },
    socketLimits: { maxSocketsPerAddress: PER_ADDRESS, messagesPerSecond: 2, burst: 5 },
  });
}, 60_000);
afterAll(async () => {
  await node?.stop();
  dir?.cleanup();
});

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("the socket did not open")), { once: true });
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }), { once: true }),
  );
}

async function openSockets(): Promise<number> {
  const res = await fetch(`${node.url}/health`);
  return ((await res.json()) as { validationSockets: { open: number } }).validationSockets.open;
}

describe("validation socket: authentication", () => {
  test("no token, a stranger's token: refused with the typed 401/403 before any socket exists", async () => {
    const url = `${node.url}${VALIDATE_SOCKET_PATH}`;
    const bare = await fetch(url, { headers: { upgrade: "websocket", connection: "upgrade" } });
    expect(bare.status).toBe(401);
    expect(v.parse(ErrorBody, await bare.json()).error.code).toBe("UNAUTHORIZED");
    const stranger = await fetch(url, {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        authorization: await gatewayHeader(newAccount()),
      },
    });
    expect(stranger.status).toBe(403);
    expect(await openSockets()).toBe(0);
  });

  test("the socket closes with 4401 when the token it was opened with expires", async () => {
    const { token } = await makeGatewayToken(gateway, Date.now(), 1_500);
    const options = { headers: { authorization: gatewayAuthorization(token) } };
    const ws = new WebSocket(
      `${node.url.replace(/^http/, "ws")}${VALIDATE_SOCKET_PATH}`,
      options as unknown as string[],
    );
    const end = closed(ws);
    await opened(ws);
    const { code } = await end;
    expect(code).toBe(VALIDATION_SOCKET_CLOSE.TOKEN_EXPIRED);
  });
});

describe("validation socket: limits", () => {
  test("past the per-address cap the next socket is refused with 429; a closed one frees its slot", async () => {
    const sockets: WebSocket[] = [];
    for (let i = 0; i < PER_ADDRESS; i++) {
      const ws = await validationSocket(gateway, node.url);
      await opened(ws);
      sockets.push(ws);
    }
    const url = `${node.url}${VALIDATE_SOCKET_PATH}`;
    const extra = await fetch(url, {
      headers: { upgrade: "websocket", connection: "upgrade", authorization: await gatewayHeader(gateway) },
    });
    expect(extra.status).toBe(429);
    const err = v.parse(ErrorBody, await extra.json()).error;
    expect(err.code).toBe("RATE_LIMITED");
    expect(err.details).toEqual({ reason: "too_many_sockets_from_address" });

    const first = sockets.shift() as WebSocket;
    const gone = closed(first);
    first.close();
    await gone;
    await waitFor(async () => (await openSockets()) === PER_ADDRESS - 1, 10_000, "slot released");
    const again = await validationSocket(gateway, node.url);
    await opened(again);
    sockets.push(again);
    for (const ws of sockets) ws.close();
    await waitFor(async () => (await openSockets()) === 0, 10_000, "sockets closed");
  });

  test("a socket sending faster than its rate is closed with 4429", async () => {
    const ws = await validationSocket(gateway, node.url);
    await opened(ws);
    const end = closed(ws);
    const answers: unknown[] = [];
    ws.addEventListener("message", (e) => answers.push(JSON.parse(String(e.data))));
    for (let i = 0; i < 20; i++) ws.send(`{"id":${i},"op":"stream","body":{}}`);
    expect((await end).code).toBe(VALIDATION_SOCKET_CLOSE.RATE_LIMITED);
    // The burst was answered (typed refusals of the empty bodies), the rest never parsed.
    expect(answers.length).toBeLessThanOrEqual(6);
  });

  test("past its in-flight cap a socket answers RATE_LIMITED with the message's id, without validating it", async () => {
    const busyDir = tempDir();
    const busy = await startTestNode(busyDir.path, {
      config: { trustedGateways: [addressOf(gateway)] },
      socketLimits: { maxInFlight: 0 },
    });
    try {
      const ws = await validationSocket(gateway, busy.url);
      await opened(ws);
      const answer = new Promise<unknown>((resolve) =>
        ws.addEventListener("message", (e) => resolve(JSON.parse(String(e.data))), { once: true }),
      );
      const refusedBefore = busy.validation.stats.refused;
      ws.send(`{"id":41,"op":"stream","body":{}}`);
      expect(await answer).toMatchObject({
        id: 41,
        ok: false,
        error: { code: "RATE_LIMITED", details: { reason: "too_many_in_flight" } },
      });
      expect(busy.validation.stats.refused).toBe(refusedBefore);
      ws.close();
    } finally {
      await busy.stop();
      busyDir.cleanup();
    }
  });

  test("a message over the limit closes the socket with 1009", async () => {
    const ws = await validationSocket(gateway, node.url);
    await opened(ws);
    const end = closed(ws);
    ws.send("x".repeat(VALIDATION_SOCKET_MAX_MESSAGE_BYTES + 1));
    expect((await end).code).toBe(VALIDATION_SOCKET_CLOSE.MESSAGE_TOO_BIG);
  });

  test("a frame declaring 1 GiB is refused from its header, before its body is sent", async () => {
    const { port } = new URL(node.url);
    const socket: Socket = connect(Number(port), "127.0.0.1");
    const received: Buffer[] = [];
    let headersDone: () => void = () => {};
    const upgraded = new Promise<void>((resolve) => {
      headersDone = resolve;
    });
    const ended = new Promise<void>((resolve) => {
      socket.on("close", () => resolve());
    });
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk);
      if (Buffer.concat(received).includes("\r\n\r\n")) headersDone();
    });
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      [
        `GET ${VALIDATE_SOCKET_PATH} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        `Authorization: ${await gatewayHeader(gateway)}`,
        "",
        "",
      ].join("\r\n"),
    );
    await upgraded;
    const head = Buffer.concat(received).toString("latin1");
    expect(head.startsWith("HTTP/1.1 101")).toBe(true);
    received.length = 0;
    // FIN + text, masked, 64-bit length of 1 GiB; then a mask key and 16 bytes of body only.
    const frame = Buffer.alloc(2 + 8 + 4 + 16);
    frame[0] = 0x81;
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(1n << 30n, 2);
    socket.write(frame);
    await ended;
    const reply = Buffer.concat(received);
    // A close frame (opcode 8) whose code is 1009, sent with 1 GiB still to come.
    expect(reply[0]).toBe(0x88);
    expect(reply.readUInt16BE(2)).toBe(VALIDATION_SOCKET_CLOSE.MESSAGE_TOO_BIG);
    expect((await fetch(`${node.url}/health`)).status).toBe(200);
  });
});
