import type { Startable } from "@libp2p/interface";
import {
  type AttestationResponse,
  type AttestationSig,
  attestationDigest,
  BaseError,
  type CompletionRequest,
  hashCanonical,
  idToBytes32,
  type NcnDomain,
  type PreprocessRequest,
  toBaseError,
} from "@ncn/protocol";
import { recoverDigest } from "@ncn/protocol/secp256k1";
import type { ValidatorSetReader } from "../chain/validator-set.ts";
import { MEMPOOL_CONCURRENCY, MEMPOOL_MAX_ITEMS, MEMPOOL_TTL_MS, TOPIC_MEMPOOL } from "../constants.ts";
import { RegistryError } from "../errors.ts";
import type { GossipService, HandleResult } from "../gossip/gossip-service.ts";
import { mempoolHandler } from "../gossip/handlers/mempool.ts";
import {
  MAX_ANNOUNCED_ATTESTATIONS,
  type MempoolMessage,
  type MempoolWork,
} from "../gossip/mempool-message.ts";
import type { GatewayAuthenticator } from "../http/gateway-auth.ts";
import type { Logger } from "../logger.ts";
import type { AttestationStore } from "../store/attestation-store.ts";
import type { ValidationService } from "../validation/validation-service.ts";

export interface MempoolEntry {
  id: `0x${string}`;
  phase: 0 | 1;
  requestId: string;
  postedAt: number;
  expiresAt: number;
  /** What this node made of it. */
  status: "pending" | "attested" | "refused" | "skipped";
  refusal?: { code: string; message: string };
}

/** The parts of the node this service uses. */
export interface MempoolServiceComponents {
  gossip: Pick<GossipService, "publish" | "register" | "unregister">;
  validation: Pick<ValidationService, "enabled" | "preprocess" | "completion" | "onAttestation">;
  attestations: AttestationStore;
  /** Its domain is needed to check gossiped attestations; without it they are ignored. */
  payments?: { readonly domain: NcnDomain } | undefined;
  /** Gossiped attestations are kept only from its active validators; without it they are ignored. */
  validatorSet?: ValidatorSetReader | undefined;
  /** Who may post work: gossiped work carries its gateway's token. */
  gatewayAuth: GatewayAuthenticator;
  logger: Logger;
}

/** How long the active validator set is reused between gossiped attestations. */
const VALIDATOR_SET_CACHE_MS = 10_000;
/**
 * How long a signed attestation waits for others to share its gossip message. Nobody waits
 * on this gossip (a gateway collects attestations from the validators it asks), and per
 * message costs dominate: the HTTP path signs six attestations a request over three nodes.
 */
const ANNOUNCE_DELAY_MS = 50;

/**
 * The mempool of pending validation work: a gateway posts a request to one node, every
 * validator node validates it independently, and each attestation is gossiped so that the
 * gateway can collect M of them from any node.
 */
export class MempoolService implements Startable {
  private readonly components: MempoolServiceComponents;
  private readonly log: Logger;
  private stopListening: (() => void) | undefined;
  private readonly entries = new Map<string, MempoolEntry>();
  private readonly queue: { work: MempoolWork; gateway: `0x${string}` }[] = [];
  private validators: { at: number; keys: Promise<ReadonlySet<string>> } | undefined;
  /** Request ids (bytes32) this node holds work for or attested itself, oldest first. */
  private readonly known = new Set<string>();
  /**
   * Valid attestations for requests this node does not know yet (gossip may bring another
   * validator's before the work or this node's own validation), stored once it does.
   */
  private readonly waiting = new Map<string, { at: number; list: AttestationSig[] }>();
  private running = 0;
  private stopped = false;
  /** Attestations signed here and not gossiped yet. */
  private outbox: Pick<AttestationResponse, "requestId" | "attestation">[] = [];
  private outboxTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(components: MempoolServiceComponents) {
    this.components = components;
    this.log = components.logger.child("mempool");
  }

  /** Takes work and attestations from gossip, and announces every attestation this node signs. */
  start(): void {
    this.stopped = false;
    this.components.gossip.register(mempoolHandler(this));
    this.stopListening ??= this.components.validation.onAttestation((res) => this.announce(res));
  }

  /** Drops queued work (what is being validated finishes), gossips what was signed, and leaves the topic. */
  stop(): void {
    void this.flushAnnouncements();
    this.stopped = true;
    this.queue.length = 0;
    this.stopListening?.();
    this.stopListening = undefined;
    this.components.gossip.unregister(TOPIC_MEMPOOL);
  }

  /**
   * Posts work from an authenticated gateway (HTTP): processed here and gossiped, with the
   * gateway's token, to the other nodes.
   */
  async submit(
    work: { phase: 0; request: PreprocessRequest } | { phase: 1; request: CompletionRequest },
    auth: { token: string; gateway: `0x${string}` },
    now = Date.now(),
  ): Promise<{ id: `0x${string}`; gossipPeers: number; entry: MempoolEntry }> {
    const id = hashCanonical({ phase: work.phase, request: work.request });
    const deadline = work.request.deadline;
    const message = {
      type: "work",
      id,
      phase: work.phase,
      request: work.request,
      postedAt: now,
      expiresAt: Math.min(deadline, now + MEMPOOL_TTL_MS),
      auth: auth.token,
    } as MempoolWork;
    this.add(message, auth.gateway, now);
    let gossipPeers = 0;
    try {
      gossipPeers = await this.components.gossip.publish(TOPIC_MEMPOOL, message);
    } catch (e) {
      throw new RegistryError("PAYLOAD_TOO_LARGE", "this work cannot be gossiped; validate it over HTTP", {
        cause: e,
      });
    }
    const entry = this.entries.get(id);
    if (!entry) throw new RegistryError("INTERNAL", "mempool entry vanished");
    return { id, gossipPeers, entry };
  }

  /**
   * Gossip handler of `/ncn/mempool/1`. Work is taken only from a gateway this node serves
   * (its token verifies), with its expiry clamped as `submit` sets it: a peer cannot make
   * work live longer than its deadline or the mempool's TTL.
   */
  async handle(message: MempoolMessage, now = Date.now()): Promise<HandleResult> {
    if (message.type === "attestation") return this.acceptAttestation(message.requestId, message.attestation);
    if (message.type === "attestations") {
      // One bad attestation refuses the message: an honest node sends only what it signed.
      let kept: HandleResult = "ignore";
      for (const item of message.items) {
        if ((await this.acceptAttestation(item.requestId, item.attestation)) === "accept") kept = "accept";
      }
      return kept;
    }
    if (message.id !== hashCanonical({ phase: message.phase, request: message.request })) {
      throw new RegistryError("INVALID_INPUT", "mempool work id does not match its content");
    }
    const gateway = await this.components.gatewayAuth.authenticateToken(message.auth);
    const expiresAt = Math.min(message.expiresAt, message.request.deadline, now + MEMPOOL_TTL_MS);
    if (expiresAt <= now || this.entries.has(message.id)) return "ignore";
    return this.add({ ...message, expiresAt }, gateway, now) ? "accept" : "ignore";
  }

  /**
   * Announces an attestation this node signed (the request is known here from now on): in
   * one gossip message with the others signed within ANNOUNCE_DELAY_MS.
   */
  announce(res: AttestationResponse): void {
    this.markKnown(res.requestId);
    this.outbox.push({ requestId: res.requestId, attestation: res.attestation });
    if (this.outbox.length >= MAX_ANNOUNCED_ATTESTATIONS) void this.flushAnnouncements();
    else this.outboxTimer ??= setTimeout(() => void this.flushAnnouncements(), ANNOUNCE_DELAY_MS);
  }

  /** Gossips the attestations waiting in the outbox now. */
  async flushAnnouncements(): Promise<void> {
    if (this.outboxTimer) clearTimeout(this.outboxTimer);
    this.outboxTimer = undefined;
    const items = this.outbox.splice(0, MAX_ANNOUNCED_ATTESTATIONS);
    if (this.outbox.length > 0) this.outboxTimer = setTimeout(() => void this.flushAnnouncements(), 0);
    const [one] = items;
    if (!one) return;
    const message: MempoolMessage =
      items.length === 1 ? { type: "attestation", ...one } : { type: "attestations", items };
    await this.components.gossip
      .publish(TOPIC_MEMPOOL, message)
      .catch((e: unknown) =>
        this.log.debug("attestation announcement failed", { err: e, count: items.length }),
      );
  }

  list(): MempoolEntry[] {
    return [...this.entries.values()].sort((a, b) => a.postedAt - b.postedAt);
  }

  get(id: string): MempoolEntry | undefined {
    return this.entries.get(id);
  }

  prune(now = Date.now()): number {
    let n = 0;
    for (const [id, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.entries.delete(id);
        n++;
      }
    }
    return n;
  }

  private add(work: MempoolWork, gateway: `0x${string}`, now = Date.now()): boolean {
    if (this.entries.has(work.id)) return false;
    if (this.entries.size >= MEMPOOL_MAX_ITEMS) this.prune(now);
    if (this.entries.size >= MEMPOOL_MAX_ITEMS) return false;
    const entry: MempoolEntry = {
      id: work.id,
      phase: work.phase,
      requestId: work.request.requestId,
      postedAt: work.postedAt,
      expiresAt: work.expiresAt,
      status: this.components.validation.enabled ? "pending" : "skipped",
    };
    this.entries.set(work.id, entry);
    this.markKnown(requestKey(work.request.requestId));
    if (this.components.validation.enabled) {
      this.queue.push({ work, gateway });
      this.pump();
    }
    return true;
  }

  private pump(): void {
    while (!this.stopped && this.running < MEMPOOL_CONCURRENCY && this.queue.length > 0) {
      const next = this.queue.shift();
      if (!next) break;
      this.running++;
      void this.process(next.work, next.gateway).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async process(work: MempoolWork, gateway: `0x${string}`): Promise<void> {
    const entry = this.entries.get(work.id);
    if (!entry || work.expiresAt <= Date.now()) return;
    try {
      // validation.onAttestation announces what is signed.
      if (work.phase === 0) await this.components.validation.preprocess(work.request, gateway);
      else await this.components.validation.completion(work.request, gateway);
      entry.status = "attested";
    } catch (e) {
      entry.status = "refused";
      const err = toBaseError(e);
      entry.refusal = { code: err.code, message: err.shortMessage };
      if (!(e instanceof BaseError)) this.log.error("mempool validation failed", { id: work.id, err: e });
    }
  }

  /** The active validator keys, read at most every few seconds. */
  private activeValidators(now = Date.now()): Promise<ReadonlySet<string>> {
    const set = this.components.validatorSet;
    if (!set) return Promise.resolve(new Set<string>());
    if (!this.validators || now - this.validators.at > VALIDATOR_SET_CACHE_MS) {
      const keys = set.active().then((list) => new Set(list.map((k) => k.toLowerCase())));
      // A failed read is not kept: the next attestation reads again.
      keys.catch(() => {
        if (this.validators?.keys === keys) this.validators = undefined;
      });
      this.validators = { at: now, keys };
    }
    return this.validators.keys;
  }

  /**
   * Keeps a gossiped attestation only when it is signed by the validator it names and that
   * validator is in the active set: what a gateway collects from any node counts toward M.
   */
  private async acceptAttestation(requestId: `0x${string}`, a: AttestationSig): Promise<HandleResult> {
    const domain = this.components.payments?.domain;
    if (!domain || !this.components.validatorSet) return "ignore";
    if (!(await this.activeValidators()).has(a.validator.toLowerCase())) {
      throw new RegistryError("FORBIDDEN", `${a.validator} is not an active validator`);
    }
    let signer: string;
    try {
      // From the digest (libsecp256k1 when it loads): several gossiped attestations per request.
      signer = await recoverDigest(
        attestationDigest(domain, {
          requestId,
          phase: a.phase,
          subject: a.subject,
          outputHash: a.outputHash,
        }),
        a.signature,
      );
    } catch (e) {
      throw new RegistryError("SIGNATURE_INVALID", "attestation signature cannot be recovered", { cause: e });
    }
    if (signer.toLowerCase() !== a.validator) {
      throw new RegistryError("SIGNATURE_INVALID", "attestation is not signed by its validator");
    }
    const key = requestId.toLowerCase();
    if (this.known.has(key)) return this.components.attestations.save(requestId, a) ? "accept" : "ignore";
    // Not stored for a request this node never saw: an active validator could otherwise fill
    // its database with attestations of made-up requests. Held a while in a bounded buffer.
    this.hold(key, a);
    return "accept";
  }

  private markKnown(requestId: string, now = Date.now()): void {
    const key = requestId.toLowerCase();
    this.known.delete(key);
    this.known.add(key);
    while (this.known.size > KNOWN_MAX) this.known.delete(this.known.values().next().value as string);
    const held = this.waiting.get(key);
    if (!held) return;
    this.waiting.delete(key);
    if (now - held.at > WAITING_TTL_MS) return;
    for (const a of held.list) this.components.attestations.save(key as `0x${string}`, a);
  }

  private hold(key: string, a: AttestationSig, now = Date.now()): void {
    for (const [k, w] of this.waiting) {
      if (now - w.at <= WAITING_TTL_MS && this.waiting.size < WAITING_MAX) break;
      this.waiting.delete(k);
    }
    const w = this.waiting.get(key) ?? { at: now, list: [] };
    if (w.list.length >= WAITING_PER_REQUEST) return;
    if (!w.list.some((x) => x.validator === a.validator && x.phase === a.phase && x.subject === a.subject))
      w.list.push(a);
    this.waiting.set(key, w);
  }

  /** Request ids held in the buffer, awaiting their work or this node's own attestation. */
  waitingCount(): number {
    return this.waiting.size;
  }
}

/** Request ids remembered as known (work seen or attested here). */
const KNOWN_MAX = 100_000;
/** Unknown request ids whose attestations are held, and for how long. */
const WAITING_MAX = 1_000;
const WAITING_TTL_MS = 60_000;
/** Attestations held per unknown request: one per phase of a handful of validators. */
const WAITING_PER_REQUEST = 16;

/** The bytes32 key attestations are filed under, for a request id as work carries it. */
function requestKey(requestId: string): string {
  return /^0x[0-9a-fA-F]{64}$/.test(requestId) ? requestId.toLowerCase() : idToBytes32(requestId);
}

/**
 * @example const mempool = mempoolService()({ gossip, validation, attestations, gatewayAuth, logger })
 */
export function mempoolService(): (components: MempoolServiceComponents) => MempoolService {
  return (components) => new MempoolService(components);
}
