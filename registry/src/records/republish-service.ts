import type { Startable } from "@libp2p/interface";
import { REPUBLISH_FIRST_WAIT_MS, REPUBLISH_INTERVAL_MS, REPUBLISH_POLL_MS } from "../constants.ts";
import type { Logger } from "../logger.ts";
import type { RecordService } from "./record-service.ts";

export interface RepublishInit {
  /** How often own records are put back; `REPUBLISH_INTERVAL_MS` by default. */
  intervalMs?: number;
  /** The first time waits at most this long for a peer; `REPUBLISH_FIRST_WAIT_MS` by default. */
  firstWaitMs?: number;
}

/** The parts of the node this service uses. */
export interface RepublishComponents {
  records: Pick<RecordService, "republishOwn">;
  dht: { readonly routingTable: { readonly size: number } };
  logger: Logger;
}

/**
 * Puts this node's own records back into the DHT: once after start, as soon as the routing
 * table has a peer (a lone node keeps them local), then every `intervalMs`. DHT entries
 * expire on the peers that hold them, and a restarted node must be findable again.
 */
export class RepublishService implements Startable {
  private readonly components: RepublishComponents;
  private readonly init: RepublishInit;
  private readonly log: Logger;
  private controller = new AbortController();
  private timer: ReturnType<typeof setInterval> | undefined;
  private first: Promise<void> | undefined;

  constructor(components: RepublishComponents, init: RepublishInit) {
    this.components = components;
    this.init = init;
    this.log = components.logger.child("republish");
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer) return;
    this.controller = new AbortController();
    const signal = this.controller.signal;
    this.timer = setInterval(
      () => void this.republish(signal),
      this.init.intervalMs ?? REPUBLISH_INTERVAL_MS,
    );
    this.timer.unref?.();
    this.first = this.republishOnFirstPeer(signal);
  }

  /** Stops the schedule and waits for a republish under way to end. */
  async stop(): Promise<void> {
    this.controller.abort();
    clearInterval(this.timer);
    this.timer = undefined;
    await this.first;
  }

  private async republishOnFirstPeer(signal: AbortSignal): Promise<void> {
    const until = Date.now() + (this.init.firstWaitMs ?? REPUBLISH_FIRST_WAIT_MS);
    while (this.components.dht.routingTable.size === 0 && Date.now() < until && !signal.aborted) {
      await Bun.sleep(REPUBLISH_POLL_MS);
    }
    if (!signal.aborted) await this.republish(signal);
  }

  private async republish(signal: AbortSignal): Promise<void> {
    try {
      await this.components.records.republishOwn(signal);
    } catch (e) {
      this.log.debug("republish stopped", { err: e });
    }
  }
}

/**
 * @example const republish = republishService()({ records, dht: libp2p.services.dht, logger })
 */
export function republishService(
  init: RepublishInit = {},
): (components: RepublishComponents) => RepublishService {
  return (components) => new RepublishService(components, init);
}
