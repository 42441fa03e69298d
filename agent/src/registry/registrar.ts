import {
  Address,
  AGENT_RECORD_TTL_MS,
  type Capabilities,
  errorFromBody,
  heartbeatSigningText,
  type Load,
  recordSigningText,
  SignedRecord,
  type UnsignedHeartbeat,
  type UnsignedRecord,
} from "@ncn/protocol";
import { type Logger, silentLogger } from "@ncn/runtime/logger";
import * as v from "valibot";
import type { PrivateKeyAccount } from "viem/accounts";

export interface RegistrarOptions {
  account: PrivateKeyAccount;
  subnets: readonly string[];
  capabilities: () => Capabilities;
  load: () => Load;
  gateway: string;
  log?: Logger;
  /** How often the record is re-signed and heartbeats sent (default a third of the record TTL). */
  intervalMs?: number;
}

/**
 * Keeps this agent listed by the validators: publishes its signed agent record (which
 * expires after AGENT_RECORD_TTL_MS) and signed heartbeats to every registry URL the
 * gateway named, again and again while the agent runs. Validators only attest requests
 * for agents they list.
 */
export class Registrar {
  #urls: string[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #seq = Date.now();
  readonly #o: RegistrarOptions;
  readonly #log: Logger;

  constructor(options: RegistrarOptions) {
    this.#o = options;
    this.#log = (options.log ?? silentLogger).child({ component: "agent:registrar" });
  }

  /** Starts (or retargets) publishing to `urls`. */
  async use(urls: readonly string[]): Promise<void> {
    this.#urls = [...new Set(urls.map((u) => u.replace(/\/$/, "")))];
    await this.publish();
    if (!this.#timer) {
      const every = this.#o.intervalMs ?? Math.floor(AGENT_RECORD_TTL_MS / 3);
      this.#timer = setInterval(() => void this.publish(), every);
      this.#timer.unref?.();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Models this agent offers: every model its subnets price whose runtime it has (it
   * fetches and verifies a model on first use), read from a registry's catalog.
   */
  async #servedModels(): Promise<string[]> {
    const runtimes = new Set<string>(this.#o.capabilities().runtimes);
    for (const url of this.#urls) {
      try {
        const [subnets, models] = await Promise.all([
          getJson(`${url}/v1/subnets`, SubnetListing),
          getJson(`${url}/v1/models`, ModelListing),
        ]);
        const runtimeOf = new Map(models.models.map((m) => [m.body.id, m.body.runtime]));
        const out = new Set<string>();
        for (const s of subnets.subnets) {
          if (!this.#o.subnets.includes(s.body.id)) continue;
          for (const m of s.body.models) {
            const rt = runtimeOf.get(m.id);
            if (rt !== undefined && runtimes.has(rt)) out.add(m.id);
          }
        }
        return [...out].sort();
      } catch (e) {
        this.#log.warn("registry catalog read failed", {
          url,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
    return [];
  }

  /** One round: a fresh record and a heartbeat to every registry; failures are logged, not thrown. */
  async publish(): Promise<void> {
    if (this.#urls.length === 0) return;
    const served = await this.#servedModels();
    const { account } = this.#o;
    const address = v.parse(Address, account.address);
    const now = Date.now();
    this.#seq = Math.max(this.#seq + 1, now);
    const unsigned = {
      kind: "agent",
      key: address,
      seq: this.#seq,
      expiresAt: now + AGENT_RECORD_TTL_MS - 5_000,
      owner: address,
      body: {
        address,
        subnets: [...this.#o.subnets],
        models: served,
        capabilities: this.#o.capabilities(),
        multiaddrs: [],
        gateway: this.#o.gateway,
      },
    } as unknown as UnsignedRecord;
    const signature = await account.signMessage({ message: recordSigningText(unsigned) });
    // Parsing catches a record the registries would refuse before it is sent.
    const record = v.parse(SignedRecord, { ...unsigned, signature });
    const hb: UnsignedHeartbeat = { agent: address, at: now, load: this.#o.load() };
    const heartbeat = {
      ...hb,
      signature: await account.signMessage({ message: heartbeatSigningText(hb) }),
    };
    await Promise.all(
      this.#urls.map(async (url) => {
        try {
          await post(`${url}/v1/records`, record);
          await post(`${url}/v1/heartbeats`, heartbeat);
        } catch (e) {
          this.#log.warn("registry publish failed", {
            url,
            error: e instanceof Error ? e.message : String(e),
          });
        }
      }),
    );
  }
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw errorFromBody(await res.json().catch(() => undefined), res.status);
}

const SubnetListing = v.object({
  subnets: v.array(
    v.object({ body: v.object({ id: v.string(), models: v.array(v.object({ id: v.string() })) }) }),
  ),
});
const ModelListing = v.object({
  models: v.array(v.object({ body: v.object({ id: v.string(), runtime: v.string() }) })),
});

async function getJson<T>(url: string, schema: v.GenericSchema<T>): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw errorFromBody(await res.json().catch(() => undefined), res.status);
  return v.parse(schema, await res.json());
}
