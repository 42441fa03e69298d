import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import type { Stream } from "@libp2p/interface";
import { pureJsCrypto } from "@libp2p/noise";
import { type Cluster, startCluster } from "../test-support/cluster.ts";
import { noiseCrypto } from "./noise-crypto.ts";

const ECHO = "/ncn/test-echo/1.0.0";
/** Noise frames of this size and more went to `node:crypto` in noise's default crypto. */
const SIZES = [0, 100, 1_199, 1_200, 4_096, 65_519];

function bytes(x: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return x instanceof Uint8Array ? x : x.subarray();
}

describe("noise's cipher under this runtime", () => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const ad = randomBytes(32);

  test("frames of every size seal to the bytes of the reference implementation and open again", () => {
    const crypto = noiseCrypto();
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const sealed = bytes(crypto.chaCha20Poly1305Encrypt(plain, nonce, ad, key));
      expect(
        Buffer.from(sealed).equals(
          Buffer.from(bytes(pureJsCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, key))),
        ),
      ).toBe(true);
      const opened = bytes(crypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, key));
      expect(Buffer.from(opened).equals(plain)).toBe(true);
    }
  });

  test("a tampered frame does not open", () => {
    const crypto = noiseCrypto();
    for (const size of [100, 4_096]) {
      const sealed = Uint8Array.from(
        bytes(crypto.chaCha20Poly1305Encrypt(randomBytes(size), nonce, ad, key)),
      );
      sealed[3] = (sealed[3] ?? 0) ^ 1;
      expect(() => crypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, key)).toThrow();
    }
  });

  test("the runtime's own cipher is used where it has one", () => {
    const withNode = noiseCrypto(true);
    const without = noiseCrypto(false);
    expect(withNode.chaCha20Poly1305Encrypt).not.toBe(without.chaCha20Poly1305Encrypt);
    expect(without.hashSHA256).toBe(withNode.hashSHA256);
  });
});

describe("two registry nodes over noise", () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster(2, { minPeers: 1 });
    const [, b] = cluster.nodes;
    await b?.libp2p.handle(ECHO, async (stream: Stream) => {
      for await (const chunk of stream) {
        if (!stream.send(bytes(chunk))) await stream.onDrain();
      }
      await stream.close();
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test("large frames cross the connection, which stays the one it was", async () => {
    const [a, b] = cluster.nodes;
    if (!a || !b) throw new Error("cluster did not start");
    const before = a.libp2p.getConnections(b.libp2p.peerId).map((c) => c.id);
    expect(before.length).toBeGreaterThan(0);
    const sent = randomBytes(256 * 1024);
    const stream = await a.libp2p.dialProtocol(b.libp2p.peerId, ECHO);
    const received: Uint8Array[] = [];
    const reading = (async () => {
      for await (const chunk of stream) received.push(Uint8Array.from(bytes(chunk)));
    })();
    for (let at = 0; at < sent.byteLength; at += 20_000) {
      if (!stream.send(sent.subarray(at, at + 20_000))) await stream.onDrain();
    }
    await Promise.all([stream.close(), reading]);
    expect(Buffer.concat(received).equals(sent)).toBe(true);
    const after = a.libp2p.getConnections(b.libp2p.peerId).map((c) => c.id);
    expect(after).toEqual(before);
  }, 30_000);
});
