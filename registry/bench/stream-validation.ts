/**
 * Cost of one stream validation step (`validateStream`), per call and per item, on a
 * validator's real code path: SQLite stores in a file as a node keeps them, a real
 * attestation key, real agent and client signatures, tiny tensor items (x: 1x4 float32 in,
 * y: 1x3 out), two agents per call. The payment contract is in memory (no RPC latency).
 *
 *   bun registry/bench/stream-validation.ts [calls per row]
 *
 * `fresh voucher`: every call carries a new voucher (one voucher recovery per call).
 * `same voucher`: the calls share one voucher (recovered once, then cached).
 * `parse body`: the route's JSON + schema parse of the same request, on top of validation.
 * The breakdown times the parts alone, on the same requests.
 */
import { join } from "node:path";
import {
  hashTaskInput,
  hashTaskResult,
  idToBytes32,
  parseJson,
  parseOrThrow,
  receiptBatchDigest,
  receiptDigest,
  StreamBatchRequest,
  useFastKeccak,
} from "@ncn/protocol";
import { recoverDigest } from "@ncn/protocol/secp256k1";
import { tempDir } from "../src/test-support/cluster.ts";
import { floatInput, floatResult } from "../src/test-support/completions.ts";
import { newAccount } from "../src/test-support/records.ts";
import {
  type StreamFixture,
  type StreamTask,
  streamFixture,
  streamRequest,
} from "../src/test-support/stream.ts";
import { acceptReceipts } from "../src/validation/batch.ts";
import { SortedMerkle } from "../src/validation/sorted-merkle.ts";
import { validateStream } from "../src/validation/stream.ts";

// As a validator process runs: WebAssembly keccak, native secp256k1 when it loads.
await useFastKeccak();
const calls = Number(process.argv[2] ?? 20);
const agents = [newAccount(), newAccount()];
let seq = 0;

function tasks(n: number): StreamTask[] {
  return Array.from({ length: n }, () => {
    const i = seq++;
    const x = [i % 97, 0.5, -1.25, i / 7];
    return { requestId: `bench-${i}`, input: floatInput("tiny-mlp", x), result: floatResult(x.slice(0, 3)) };
  });
}

/** `count` requests of `size` items split over the two agents; the charged total grows call after call. */
async function requests(f: StreamFixture, size: number, count: number, sameVoucher: boolean) {
  const out: StreamBatchRequest[] = [];
  let charged = 0n;
  for (let c = 0; c < count; c++) {
    const half = size / 2;
    out.push(
      await streamRequest(
        f.domain,
        [
          { agent: agents[0] ?? never(), tasks: tasks(half) },
          { agent: agents[1] ?? never(), tasks: tasks(size - half) },
        ],
        {
          sessionId: f.sessionId,
          client: f.client,
          modelHash: f.modelHash,
          ...(sameVoucher ? { amount: 10n ** 15n } : { chargedBefore: charged }),
        },
      ),
    );
    charged += BigInt(size) * 100n;
  }
  return out;
}

/** Mean µs per request of `run` over `reqs` (after one untimed pass over the first). */
async function time<T>(reqs: readonly T[], run: (req: T) => unknown): Promise<number> {
  const first = reqs[0];
  if (first !== undefined) await run(first);
  const t0 = performance.now();
  for (const req of reqs.slice(1)) await run(req);
  return ((performance.now() - t0) * 1000) / Math.max(1, reqs.length - 1);
}

function never(): never {
  throw new Error("unreachable");
}

const rows: [string, number, number][] = [];
const row = (what: string, size: number, perCallUs: number) => rows.push([what, size, perCallUs]);
const dir = tempDir("ncn-stream-bench-");
try {
  for (const size of [64, 256]) {
    for (const sameVoucher of [false, true]) {
      const f = await streamFixture({ agents, dbPath: join(dir.path, `${size}-${sameVoucher}.sqlite`) });
      try {
        await time(await requests(f, 4, 3, sameVoucher), (r) => validateStream(r, f.deps)); // warm-up
        const reqs = await requests(f, size, calls + 1, sameVoucher);
        const bodies = new Map(reqs.map((r) => [r, JSON.stringify(r)]));
        const validate = async (r: StreamBatchRequest) => {
          const res = await validateStream(r, f.deps);
          if (res.accepted.length !== r.items.length)
            throw new Error(`rejected: ${JSON.stringify(res.rejected[0])}`);
        };
        const label = sameVoucher ? "same voucher" : "fresh voucher";
        row(`validateStream, ${label}`, size, await time(reqs, validate));
        if (sameVoucher) continue;
        row(
          "parse body (JSON + schema)",
          size,
          await time(reqs, (r) => parseOrThrow(StreamBatchRequest, parseJson(bodies.get(r) ?? ""))),
        );
        // Breakdown, on requests already validated (the parts do not write).
        const per = (what: string, us: number) => row(`  ${what}`, size, us);
        per(
          "receipt digests",
          await time(reqs, (r) => r.items.map((i) => receiptDigest(f.domain, i.receipt))),
        );
        per(
          "input + output hashes",
          await time(reqs, (r) => r.items.map((i) => [hashTaskInput(i.input), hashTaskResult(i.result)])),
        );
        per("request id hashes", await time(reqs, (r) => r.items.map((i) => idToBytes32(i.requestId))));
        const digests = new Map(reqs.map((r) => [r, r.items.map((i) => receiptDigest(f.domain, i.receipt))]));
        per(
          "Merkle proofs (shared nodes once)",
          await time(reqs, (r) => {
            const merkle = new SortedMerkle();
            const d = digests.get(r) ?? never();
            for (const [k, i] of r.items.entries()) {
              if (
                !merkle.verify(
                  r.agentBatches[i.agentBatch]?.receiptsRoot ?? never(),
                  d[k] ?? never(),
                  i.proof,
                )
              )
                never();
            }
          }),
        );
        per(
          "root of the accepted leaves",
          await time(reqs, (r) => new SortedMerkle().root(digests.get(r) ?? never())),
        );
        let fresh = 0;
        per(
          "store receipts + reputation (1 tx)",
          await time(reqs, (r) =>
            acceptReceipts(
              f.deps,
              r.items.map((i) => ({
                requestId: `${i.requestId}-again-${fresh}`,
                agent: i.receipt.agent,
                receipt: i.receipt,
                digest: `0x${(++fresh).toString(16).padStart(64, "f")}` as `0x${string}`,
              })),
              Date.now(),
            ),
          ),
        );
        per(
          "one signature recovery (voucher/agent batch)",
          await time(reqs, (r) => {
            const b = r.agentBatches[0] ?? never();
            return recoverDigest(
              receiptBatchDigest(f.domain, { agent: b.agent, receiptsRoot: b.receiptsRoot, count: b.count }),
              b.signature,
            );
          }),
        );
        per(
          "one attestation signature",
          await time(reqs, (r) =>
            f.signer.attest(f.domain, {
              requestId: r.agentBatches[0]?.receiptsRoot ?? never(),
              phase: 1,
              subject: r.agentBatches[0]?.receiptsRoot ?? never(),
              outputHash: `0x${"0".repeat(64)}`,
            }),
          ),
        );
      } finally {
        f.close();
      }
    }
  }
} finally {
  dir.cleanup();
}

console.log(`stream validation: ${calls} calls per row, two agent batches per call, Bun ${Bun.version}`);
console.log(`${"what".padEnd(48)}${"items".padEnd(7)}${"µs/call".padStart(10)}${"µs/item".padStart(10)}`);
for (const [what, size, us] of rows) {
  console.log(
    `${what.padEnd(48)}${String(size).padEnd(7)}${us.toFixed(0).padStart(10)}${(us / size).toFixed(1).padStart(10)}`,
  );
}
