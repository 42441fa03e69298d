import type { Startable } from "@libp2p/interface";
import {
  type ReputationEvent,
  type ReputationReport,
  reputationReportSigningText,
  verifyReputationReport,
} from "@ncn/protocol";
import { recoverTextSignerNative } from "@ncn/protocol/secp256k1";
import type { ValidatorSetReader } from "../chain/validator-set.ts";
import {
  CLOCK_SKEW_MS,
  REPORT_MAX_AGE_MS,
  REPUTATION_FLUSH_DELAY_MS,
  REPUTATION_REPORT_MAX_EVENTS,
  TOPIC_REPUTATION,
} from "../constants.ts";
import { RegistryError } from "../errors.ts";
import type { GossipService } from "../gossip/gossip-service.ts";
import { reputationHandler } from "../gossip/handlers/reputation.ts";
import type { Logger } from "../logger.ts";
import type { AttestationSigner } from "../validation/attestation-signer.ts";
import type { ReputationBook } from "./reputation-book.ts";
import type { Reputation } from "./score.ts";
import { VALIDATOR_ONLY_KINDS } from "./score.ts";

export interface ReputationServiceInit {
  trustedGateways: readonly string[];
  /** How long derived events wait to be signed together. */
  flushDelayMs?: number;
}

/** The parts of the node this service uses. */
export interface ReputationServiceComponents {
  reputationBook: ReputationBook;
  validatorSet?: ValidatorSetReader | undefined;
  /** This node's key: its own derived events are applied and signed with it. */
  signer?: AttestationSigner | undefined;
  /** Relays reports to the other nodes, and brings theirs. */
  gossip: Pick<GossipService, "publish" | "register" | "unregister">;
  logger: Logger;
}

/**
 * Keeps agents' reputation: applies signed reports from trusted gateways (success, failure,
 * timeout) and validators (also slashing offences), and the events this node derives from
 * its own validations, which it signs and relays.
 */
export class ReputationService implements Startable {
  private readonly components: ReputationServiceComponents;
  private readonly init: ReputationServiceInit;
  private readonly log: Logger;
  private pending: ReputationEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private validatorCache: { at: number; keys: Set<string> } | undefined;

  constructor(components: ReputationServiceComponents, init: ReputationServiceInit) {
    this.components = components;
    this.init = init;
    this.log = components.logger.child("reputation");
  }

  start(): void {
    this.components.gossip.register(reputationHandler(this));
  }

  /** Signs and relays what is pending, then stops taking reports from gossip. */
  async stop(): Promise<void> {
    await this.flush();
    this.components.gossip.unregister(TOPIC_REPUTATION);
  }

  private async broadcast(report: ReputationReport): Promise<void> {
    await this.components.gossip.publish(TOPIC_REPUTATION, report);
  }

  get(agent: string): Reputation {
    return this.components.reputationBook.get(agent);
  }

  all(): Reputation[] {
    return this.components.reputationBook.all();
  }

  private async isValidator(address: string): Promise<boolean> {
    if (this.components.signer?.address === address) return true;
    const set = this.components.validatorSet;
    if (!set) return false;
    const now = Date.now();
    if (!this.validatorCache || now - this.validatorCache.at > 30_000) {
      this.validatorCache = { at: now, keys: new Set((await set.active()).map((k) => k.toLowerCase())) };
    }
    return this.validatorCache.keys.has(address);
  }

  /**
   * Verifies and applies a signed report; returns how many events were new. Throws
   * `SIGNATURE_INVALID`, `UNAUTHORIZED` (reporter not trusted), `FORBIDDEN` (a gateway
   * reporting a slashing offence) or `STALE_RECORD` (too old).
   */
  async acceptReport(input: unknown, now = Date.now()): Promise<number> {
    const report = await verifyReputationReport(input, recoverTextSignerNative);
    if (report.at < now - REPORT_MAX_AGE_MS || report.at > now + CLOCK_SKEW_MS) {
      throw new RegistryError("STALE_RECORD", "report time is too far from now", {
        details: { at: report.at },
      });
    }
    const validator = await this.isValidator(report.reporter);
    const gateway = this.init.trustedGateways.includes(report.reporter);
    if (!validator && !gateway) {
      throw new RegistryError(
        "UNAUTHORIZED",
        `reporter ${report.reporter} is not a trusted gateway or validator`,
        {
          details: { field: "reporter" },
        },
      );
    }
    if (!validator) {
      const bad = report.events.findIndex((e) => VALIDATOR_ONLY_KINDS.has(e.kind));
      if (bad >= 0) {
        throw new RegistryError("FORBIDDEN", "only validators report slashing offences", {
          details: { field: `events[${bad}].kind` },
        });
      }
    }
    let applied = 0;
    for (const event of report.events)
      if (this.components.reputationBook.apply(event, report.reporter)) applied++;
    return applied;
  }

  /** Applies and relays a report received over HTTP. */
  async submitReport(input: unknown): Promise<number> {
    const applied = await this.acceptReport(input);
    if (applied > 0) await this.broadcast(input as ReputationReport).catch(() => undefined);
    return applied;
  }

  /** An event this node derived from its own validation; applied now, signed and relayed soon. */
  record(event: ReputationEvent): void {
    const reporter = this.components.signer?.address ?? "self";
    if (!this.components.reputationBook.apply(event, reporter)) return;
    if (!this.components.signer) return;
    this.pending.push(event);
    if (this.pending.length >= REPUTATION_REPORT_MAX_EVENTS) void this.flush();
    else
      this.timer ??= setTimeout(() => void this.flush(), this.init.flushDelayMs ?? REPUTATION_FLUSH_DELAY_MS);
  }

  /**
   * Successes this node saw itself and keeps to itself (every validator of a stream batch
   * sees them too), each counted once by the caller: one write per agent.
   */
  recordLocalSuccesses(events: readonly ReputationEvent[]): void {
    this.components.reputationBook.applyLocal(events);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.pending.splice(0, REPUTATION_REPORT_MAX_EVENTS);
    const signer = this.components.signer;
    if (events.length === 0 || !signer) return;
    const unsigned = { reporter: signer.address as ReputationReport["reporter"], at: Date.now(), events };
    try {
      const signature = await signer.signMessage(reputationReportSigningText(unsigned));
      await this.broadcast({ ...unsigned, signature } as ReputationReport);
    } catch (e) {
      this.log.warn("could not relay reputation events", { err: e, count: events.length });
    }
  }
}

/**
 * @example const reputation = reputationService({ trustedGateways })({ reputationBook, gossip, logger })
 */
export function reputationService(
  init: ReputationServiceInit,
): (components: ReputationServiceComponents) => ReputationService {
  return (components) => new ReputationService(components, init);
}
