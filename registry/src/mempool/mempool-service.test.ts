import { afterEach, describe, expect, test } from "bun:test";
import {
  AttestationPhase,
  type AttestationResponse,
  BaseError,
  hashCanonical,
  idToBytes32,
  makeGatewayToken,
  ncnDomain,
  type PreprocessRequest,
} from "@ncn/protocol";
import { generatePrivateKey } from "viem/accounts";
import { staticValidatorSet } from "../chain/validator-set.ts";
import { MEMPOOL_MAX_ITEMS, MEMPOOL_TTL_MS } from "../constants.ts";
import type { MempoolMessage } from "../gossip/mempool-message.ts";
import { GatewayAuthenticator } from "../http/gateway-auth.ts";
import { RecordIndex } from "../records/record-index.ts";
import { ReputationBook } from "../reputation/reputation-book.ts";
import { AttestationStore } from "../store/attestation-store.ts";
import { CompletionStore } from "../store/completion-store.ts";
import { openDatabase } from "../store/database.ts";
import { PreattestationStore } from "../store/preattestation-store.ts";
import { ReceiptStore } from "../store/receipt-store.ts";
import { quietLogger } from "../test-support/cluster.ts";
import { addressOf, newAccount } from "../test-support/records.ts";
import { attestationSigner } from "../validation/attestation-signer.ts";
import { ValidationService } from "../validation/validation-service.ts";
import { MempoolService } from "./mempool-service.ts";

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const gateway = newAccount();
const validator = attestationSigner(generatePrivateKey());
const dbs: ReturnType<typeof openDatabase>[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

/** A node's mempool as gossip drives it (this node validates nothing: work is only listed). */
function mempool(published: unknown[] = []) {
  const db = openDatabase(":memory:");
  dbs.push(db);
  const attestations = new AttestationStore(db);
  const validation = new ValidationService(
    {
      index: new RecordIndex(db),
      reputationBook: new ReputationBook(db),
      attestations,
      receipts: new ReceiptStore(db),
      preattested: new PreattestationStore(db),
      completions: new CompletionStore(db),
      logger: quietLogger(),
    },
    { spotCheck: { fraction: 0, atol: 0, rtol: 0 } },
  );
  const service = new MempoolService({
    gossip: {
      publish: async (_topic, message) => {
        published.push(message);
        return 0;
      },
      register: () => undefined,
      unregister: () => undefined,
    },
    validation,
    attestations,
    payments: { domain },
    validatorSet: staticValidatorSet([validator.address]),
    gatewayAuth: new GatewayAuthenticator([addressOf(gateway)]),
    logger: quietLogger(),
  });
  return { service, attestations };
}

async function work(
  signer = gateway,
  expiresAt = Date.now() + 86_400_000,
  token?: string,
): Promise<Extract<MempoolMessage, { type: "work" }>> {
  const request = {
    requestId: `pool-${Math.random().toString(36).slice(2)}`,
    subnet: "vision",
    model: "tiny-mlp",
    agent: addressOf(newAccount()),
    price: "100",
    payment: { mode: "escrow" },
    deadline: Date.now() + 3_600_000,
  } as PreprocessRequest;
  return {
    type: "work",
    id: hashCanonical({ phase: 0, request }),
    phase: 0,
    request,
    postedAt: Date.now(),
    expiresAt,
    auth: token ?? (await makeGatewayToken(signer)).token,
  } as Extract<MempoolMessage, { type: "work" }>;
}

async function codeOf(run: Promise<unknown>): Promise<string> {
  try {
    await run;
  } catch (e) {
    if (e instanceof BaseError) return e.code;
    throw e;
  }
  return "accepted";
}

describe("gossiped mempool messages", () => {
  test("work is taken only from a gateway this node serves, its expiry clamped to the deadline and the TTL", async () => {
    const { service } = mempool();
    expect(await codeOf(service.handle(await work(newAccount())))).toBe("FORBIDDEN");
    expect(await codeOf(service.handle({ ...(await work()), auth: "0x12.34.56" }))).toBe("UNAUTHORIZED");
    expect(service.list()).toEqual([]);
    const now = Date.now();
    const good = await work(gateway, now + 86_400_000);
    expect(await service.handle(good, now)).toBe("accept");
    // The message asked for a day; the node keeps it for the mempool's TTL at most.
    expect(service.get(good.id)?.expiresAt).toBe(Math.min(good.request.deadline, now + MEMPOOL_TTL_MS));
  });

  test(`a gateway flooding work fills the mempool to ${MEMPOOL_MAX_ITEMS} entries, no more; expired work makes room`, async () => {
    const { service } = mempool();
    const token = (await makeGatewayToken(gateway)).token;
    const now = Date.now();
    for (let i = 0; i < MEMPOOL_MAX_ITEMS; i++)
      expect(await service.handle(await work(gateway, now + 60_000, token), now)).toBe("accept");
    expect(await service.handle(await work(gateway, now + 60_000, token), now)).toBe("ignore");
    expect(service.list().length).toBe(MEMPOOL_MAX_ITEMS);
    // Past their expiry the entries are pruned when room is needed.
    const later = now + 61_000;
    expect(await service.handle(await work(gateway, later + 60_000, token), later)).toBe("accept");
    expect(service.list().length).toBe(1);
  }, 60_000);

  test("attestations are kept only from active validators, signed by the key they name", async () => {
    const { service, attestations } = mempool();
    const requestId = idToBytes32("pool-attested");
    const message = {
      requestId,
      phase: AttestationPhase.Preprocess,
      subject: idToBytes32("subject"),
      outputHash: `0x${"0".repeat(64)}` as `0x${string}`,
    };
    const outsider = attestationSigner(generatePrivateKey());
    const theirs = await outsider.attest(domain, message);
    expect(
      await codeOf(service.handle({ type: "attestation", requestId, attestation: theirs } as MempoolMessage)),
    ).toBe("FORBIDDEN");
    expect(attestations.list(requestId)).toEqual([]);
    const genuine = await validator.attest(domain, message);
    // Another key's signature under the validator's name.
    const forged = { ...genuine, signature: theirs.signature };
    expect(
      await codeOf(service.handle({ type: "attestation", requestId, attestation: forged } as MempoolMessage)),
    ).toBe("SIGNATURE_INVALID");
    // Known here (this node attested the request itself): kept.
    service.announce({
      requestId: requestId as AttestationResponse["requestId"],
      attestation: await validator.attest(domain, { ...message, subject: idToBytes32("own") }),
    });
    expect(
      await service.handle({ type: "attestation", requestId, attestation: genuine } as MempoolMessage),
    ).toBe("accept");
    expect(attestations.list(requestId)).toEqual([genuine]);
  });

  test("attestations signed within a moment go out in one gossip message; a batch with one forgery is refused", async () => {
    const published: unknown[] = [];
    const { service, attestations } = mempool(published);
    const signed = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const requestId = idToBytes32(`batched-${i}`);
        const attestation = await validator.attest(domain, {
          requestId,
          phase: AttestationPhase.Completion,
          subject: idToBytes32(`subject-${i}`),
          outputHash: `0x${"0".repeat(64)}` as `0x${string}`,
        });
        return { requestId, attestation };
      }),
    );
    for (const a of signed) service.announce(a as AttestationResponse);
    expect(published).toEqual([]);
    await service.flushAnnouncements();
    expect(published).toEqual([{ type: "attestations", items: signed }]);

    // Another node takes the batch: each attestation is checked and stored for a known request.
    const other = mempool();
    for (const a of signed.slice(0, 2)) other.service.announce(a as AttestationResponse);
    const batch = { type: "attestations", items: signed } as MempoolMessage;
    expect(await other.service.handle(batch)).toBe("accept");
    const [first] = signed;
    if (!first) throw new Error("nothing signed");
    expect(other.attestations.list(first.requestId)).toEqual([first.attestation]);
    const outsider = attestationSigner(generatePrivateKey());
    const forged = {
      requestId: idToBytes32("batched-forged"),
      attestation: {
        ...first.attestation,
        signature: (
          await outsider.attest(domain, {
            requestId: idToBytes32("batched-forged"),
            phase: AttestationPhase.Completion,
            subject: idToBytes32("x"),
            outputHash: `0x${"0".repeat(64)}` as `0x${string}`,
          })
        ).signature,
      },
    };
    const bad = { type: "attestations", items: [...signed, forged] } as MempoolMessage;
    expect(await codeOf(other.service.handle(bad))).toBe("SIGNATURE_INVALID");
    expect(attestations.list(forged.requestId)).toEqual([]);
  });

  test("an active validator's attestations for requests this node never saw are not stored; held a while, stored once the work arrives", async () => {
    const { service, attestations } = mempool();
    // A flood of valid attestations for made-up requests: nothing reaches the database, and the
    // buffer stays bounded.
    for (let i = 0; i < 1_200; i++) {
      const requestId = idToBytes32(`made-up-${i}`);
      const a = await validator.attest(domain, {
        requestId,
        phase: AttestationPhase.Preprocess,
        subject: idToBytes32("subject"),
        outputHash: `0x${"0".repeat(64)}` as `0x${string}`,
      });
      expect(await service.handle({ type: "attestation", requestId, attestation: a } as MempoolMessage)).toBe(
        "accept",
      );
      expect(attestations.list(requestId)).toEqual([]);
    }
    expect(service.waitingCount()).toBeLessThanOrEqual(1_000);
    // One that arrived before its work (gossip has no order): stored when the work comes.
    const w = await work();
    const requestId = idToBytes32(w.request.requestId);
    const early = await validator.attest(domain, {
      requestId,
      phase: AttestationPhase.Preprocess,
      subject: idToBytes32("subject"),
      outputHash: `0x${"0".repeat(64)}` as `0x${string}`,
    });
    await service.handle({ type: "attestation", requestId, attestation: early } as MempoolMessage);
    expect(attestations.list(requestId)).toEqual([]);
    expect(await service.handle(w)).toBe("accept");
    expect(attestations.list(requestId)).toEqual([early]);
  });
});
