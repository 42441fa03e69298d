import { type LocalChain, mintTokens, openSession, paymentDomain, startLocalChain } from "@ncn/contracts";
import {
  type CompletionRequest,
  ErrorBody,
  type ErrorCode,
  type NcnDomain,
  type PreprocessRequest,
  type StreamBatchRequest,
} from "@ncn/protocol";
import { bodyText, FUZZ_RUNS, FUZZ_SEED } from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import * as v from "valibot";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import type { RegistryNode } from "../node.ts";
import { startTestNode, tempDir } from "./cluster.ts";
import { floatInput, floatResult, signedCompletion } from "./completions.ts";
import { gatewayHeader } from "./gateway.ts";
import { claimNamesOf } from "./names.ts";
import {
  addressOf,
  agentRecord,
  fakeModel,
  modelRecord,
  newAccount,
  signRecord,
  subnetRecord,
} from "./records.ts";
import { signVoucher, streamRequest } from "./stream.ts";

/** In-process calls per call over loopback HTTP (the same handler either way). */
const HTTP_EVERY = 25;

/** fast-check parameters of every registry fuzz property. */
export const fuzzParams = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true } as const;

/**
 * A real validator node (SQLite, libp2p, Bun.serve) with a real chain (anvil) for fuzzing
 * the HTTP API: a subnet, model and agent registered, a funded session of `client` for the
 * trusted `gateway`, and one request pre-attested. It builds base bodies that fail a check
 * no one-field change can pass (a forged signature, an unfunded payment), sends requests
 * (in-process, and one in every 25 over HTTP), and snapshots every store.
 */
export class FuzzTarget {
  readonly gatewayAccount = newAccount();
  readonly gateway = addressOf(this.gatewayAccount);
  readonly owner = newAccount();
  readonly agent = newAccount();
  readonly stranger = newAccount();
  readonly #clientKey = generatePrivateKey();
  readonly client = privateKeyToAccount(this.#clientKey);
  /** A request this validator pre-attested, so completions get past that check. */
  readonly attestedRequest = "fz-attested";
  readonly modelHash = fakeModel("tiny-mlp").sha256 as `0x${string}`;
  #chain: LocalChain | undefined;
  #dir = tempDir();
  #node: RegistryNode | undefined;
  #domain: NcnDomain | undefined;
  #sessionId: `0x${string}` | undefined;
  #authorization = "";
  #calls = 0;

  get node(): RegistryNode {
    if (!this.#node) throw new Error("fuzz target not started");
    return this.#node;
  }

  get domain(): NcnDomain {
    if (!this.#domain) throw new Error("fuzz target not started");
    return this.#domain;
  }

  get sessionId(): `0x${string}` {
    if (!this.#sessionId) throw new Error("fuzz target not started");
    return this.#sessionId;
  }

  /** The trusted gateway's `Authorization` header. */
  get authorization(): string {
    return this.#authorization;
  }

  async start(): Promise<void> {
    const chain = await startLocalChain({ validators: 1, deploy: { threshold: 1 } });
    this.#chain = chain;
    await chain.fundEther(this.client.address);
    await mintTokens(chain.client(chain.deployerKey), chain.contracts, {
      to: this.client.address,
      amount: 10n ** 21n,
    });
    ({ sessionId: this.#sessionId } = await openSession(chain.client(this.#clientKey), chain.contracts, {
      gateway: this.gateway,
      amount: 10n ** 20n,
      expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
    }));
    this.#domain = paymentDomain(chain.deployment.chainId, chain.contracts.payment);
    this.#node = await startTestNode(this.#dir.path, {
      config: {
        rpcUrl: chain.anvil.url,
        paymentContract: chain.contracts.payment,
        validatorRegistry: chain.contracts.registry,
        validatorKey: chain.validatorKeys[0],
        spotCheckFraction: 0,
        trustedGateways: [this.gateway],
      },
    });
    const records = [
      await subnetRecord(this.owner, { models: [{ id: "tiny-mlp", price: "100" }] }),
      await modelRecord(this.owner, fakeModel("tiny-mlp")),
      await agentRecord(this.agent, { subnets: ["vision"], models: ["tiny-mlp"] }),
      await signRecord(this.owner, { kind: "model", key: "fz-stale", seq: 5, body: fakeModel("fz-stale") }),
    ];
    // Subnet and model names are accepted only from their owner on chain.
    await claimNamesOf(chain, this.owner, records);
    for (const record of records) await this.node.records.publish(record);
    this.#authorization = await gatewayHeader(this.gatewayAccount);
    const pre = await this.node.validation.preprocess(
      await this.preprocessBody(this.attestedRequest, this.client),
      this.gateway,
    );
    if (pre.attestation.validator !== this.node.signer?.address)
      throw new Error("setup pre-attestation failed");
  }

  async stop(): Promise<void> {
    await this.#node?.stop();
    await this.#chain?.stop();
    this.#dir.cleanup();
  }

  voucher(signer: PrivateKeyAccount = this.client, amount = 100n): Promise<`0x${string}`> {
    return signVoucher(signer, this.domain, this.sessionId, amount);
  }

  /** A preprocess request paid by a voucher of `voucherSigner` (a stranger: forged). */
  async preprocessBody(
    requestId: string,
    voucherSigner: PrivateKeyAccount = this.stranger,
    agent: PrivateKeyAccount = this.agent,
  ): Promise<PreprocessRequest> {
    return {
      requestId,
      subnet: "vision",
      model: "tiny-mlp",
      agent: addressOf(agent),
      price: "100",
      payment: {
        mode: "session",
        sessionId: this.sessionId,
        cumulativeAmount: "100",
        signature: await this.voucher(voucherSigner),
      },
      deadline: Date.now() + 3_600_000,
    } as PreprocessRequest;
  }

  /** Completions: pre-attested but signed by a stranger; signed by the agent but never pre-attested. */
  async completionBases(): Promise<[CompletionRequest, CompletionRequest]> {
    const task = { modelHash: this.modelHash, input: input(), result: result() };
    return [
      await signedCompletion(this.agent, this.domain, {
        ...task,
        requestId: this.attestedRequest,
        signer: this.stranger,
      }),
      await signedCompletion(this.agent, this.domain, { ...task, requestId: "fz-unattested" }),
    ];
  }

  /** Stream batches: the voucher forged; the agent's batch forged. */
  async streamBases(requestId: string): Promise<[StreamBatchRequest, StreamBatchRequest]> {
    const tasks = [{ requestId, input: input(), result: result() }];
    const build = { sessionId: this.sessionId, client: this.client, modelHash: this.modelHash };
    return [
      await streamRequest(this.domain, [{ agent: this.agent, tasks }], {
        ...build,
        voucherSigner: this.stranger,
      }),
      await streamRequest(this.domain, [{ agent: this.agent, tasks, signer: this.stranger }], build),
    ];
  }

  /** Every row of every table, the mempool and the reputation book: what "nothing changed" compares. */
  storeSnapshot(): string {
    const db = this.node.db;
    const tables = db
      .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((t) => t.name);
    const rows = tables.map((t) => [t, db.query(`SELECT * FROM "${t}"`).all()]);
    return JSON.stringify({
      rows,
      mempool: this.node.mempool.list().length,
      reputation: this.node.reputation.all(),
    });
  }

  /** Sends one request, in-process or (every 25th call) over HTTP. */
  send(path: string, init: RequestInit): Promise<Response> {
    this.#calls++;
    if (this.#calls % HTTP_EVERY === 0) return fetch(`${this.node.url}${path}`, init);
    return this.node.fetch(new Request(`${this.node.url}${path}`, init));
  }

  /** Fails on a 5xx, an answer that is not an error, or an error body without a known code. */
  async expectTyped4xx(path: string, init: RequestInit): Promise<ErrorCode> {
    const res = await this.send(path, init);
    const text = await res.text();
    if (res.status < 400 || res.status >= 500) {
      throw new Error(`${init.method ?? "GET"} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    const parsed = v.safeParse(ErrorBody, json);
    if (!parsed.success) throw new Error(`${path} answered an untyped error: ${text.slice(0, 300)}`);
    return parsed.output.error.code;
  }

  /** Runs `bodies` against a POST route: every answer a typed 4xx, no store changed after any. */
  async fuzzPost(path: string, bodies: fc.Arbitrary<unknown>, asGateway = false): Promise<void> {
    const headers = asGateway ? { authorization: this.authorization } : {};
    const before = this.storeSnapshot();
    await fc.assert(
      fc.asyncProperty(bodies, async (b) => {
        await this.expectTyped4xx(path, post(b, headers));
        if (this.storeSnapshot() !== before) throw new Error(`${path}: a store changed`);
      }),
      fuzzParams,
    );
  }
}

/** A JSON POST of a fuzzed body. */
export function post(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: bodyText(body),
  };
}

const input = () => floatInput("tiny-mlp", [1, 2, 3, 4]);
const result = () => floatResult([0.5, 0.25, 0.125]);
