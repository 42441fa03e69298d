import {
  BaseError,
  ModelDescriptor,
  type ModelTask,
  SubnetRecordBody,
  type TokenPrices,
} from "@ncn/protocol";
import * as v from "valibot";
import { inAnswerOrder, registryAnswered } from "./registry-order.ts";

export interface PricedModel {
  descriptor: ModelDescriptor;
  /** Per request: the whole price, or with `pricing` the base fee. */
  price: bigint;
  /** Per-token prices of `generate` and `embed` requests, when the subnet sets them. */
  pricing?: TokenPrices | undefined;
}

export interface Catalog {
  subnets: Map<string, v.InferOutput<typeof SubnetRecordBody>>;
  models: Map<string, ModelDescriptor>;
  fetchedAt: number;
}

const SubnetsBody = v.object({ subnets: v.array(v.unknown()) });
const ModelsBody = v.object({ models: v.array(v.unknown()) });
const CACHE_MS = 5_000;
/** How old a catalog may be and still be answered while a new one is read (see `loadCatalog`). */
const STALE_OK_MS = 60_000;
/** A background refresh older than this is taken for lost, and another may start. */
const REFRESH_TIMEOUT_MS = 10_000;
/** When the background refresh under way started (0: none). A number, never a promise: see health.ts. */
let refreshingSince = 0;
let cache: { key: string; catalog: Catalog } | undefined;

/** Subnets and models from the registry (any reachable node), cached for a few seconds per isolate. */
export async function loadCatalog(
  registryUrls: readonly string[],
  fetcher: typeof fetch = fetch,
  /**
   * Where a refresh may run after the answer (a Worker request's `waitUntil`; in a Durable
   * Object the promise may simply run on). With it, a catalog up to `STALE_OK_MS` old is
   * answered at once while a new one is read: a registry node that stops answering then
   * costs no request its timeout.
   */
  background?: (refresh: Promise<unknown>) => void,
): Promise<Catalog> {
  const key = registryUrls.join(",");
  if (cache && cache.key === key) {
    const age = Date.now() - cache.catalog.fetchedAt;
    if (age < CACHE_MS) return cache.catalog;
    if (background && age < STALE_OK_MS) {
      if (Date.now() - refreshingSince > REFRESH_TIMEOUT_MS) {
        refreshingSince = Date.now();
        background(
          readCatalog(registryUrls, fetcher)
            .catch(() => undefined)
            .finally(() => {
              refreshingSince = 0;
            }),
        );
      }
      return cache.catalog;
    }
  }
  return await readCatalog(registryUrls, fetcher);
}

/**
 * `read` applied to the catalog, answered from a stale one when it may be (see `loadCatalog`'s
 * `background`), except when the stale one does not have what `read` needs (a subnet or model
 * published since): then from a catalog read now.
 */
export async function fromCatalog<T>(
  registryUrls: readonly string[],
  read: (catalog: Catalog) => T,
  background: (refresh: Promise<unknown>) => void,
): Promise<T> {
  const catalog = await loadCatalog(registryUrls, fetch, background);
  try {
    return read(catalog);
  } catch (e) {
    if (Date.now() - catalog.fetchedAt < CACHE_MS) throw e;
    return read(await readCatalog(registryUrls, fetch));
  }
}

async function readCatalog(registryUrls: readonly string[], fetcher: typeof fetch): Promise<Catalog> {
  const key = registryUrls.join(",");
  let lastError: unknown;
  for (const url of inAnswerOrder(registryUrls)) {
    try {
      const base = url.replace(/\/$/, "");
      const [s, m] = await Promise.all([
        fetcher(`${base}/v1/subnets`, { signal: AbortSignal.timeout(3000) }).then((r) => r.json()),
        fetcher(`${base}/v1/models`, { signal: AbortSignal.timeout(3000) }).then((r) => r.json()),
      ]);
      const catalog: Catalog = { subnets: new Map(), models: new Map(), fetchedAt: Date.now() };
      for (const raw of v.parse(SubnetsBody, s).subnets) {
        const body = v.safeParse(SubnetRecordBody, bodyOf(raw));
        if (body.success) catalog.subnets.set(body.output.id, body.output);
      }
      for (const raw of v.parse(ModelsBody, m).models) {
        const body = v.safeParse(ModelDescriptor, bodyOf(raw));
        if (body.success) catalog.models.set(body.output.id, body.output);
      }
      cache = { key, catalog };
      registryAnswered(url);
      return catalog;
    } catch (e) {
      lastError = e;
    }
  }
  if (cache) return cache.catalog;
  throw new BaseError("UNAVAILABLE", "no registry node answered for the catalog", { cause: lastError });
}

/** Registry listings may carry whole signed records or bare bodies. */
function bodyOf(raw: unknown): unknown {
  return typeof raw === "object" && raw !== null && "body" in raw ? raw.body : raw;
}

/** The model and its price in a subnet, or a typed 404. */
export function priceOf(catalog: Catalog, subnet: string, model: string): PricedModel {
  const s = catalog.subnets.get(subnet);
  if (!s)
    throw new BaseError("SUBNET_NOT_FOUND", `subnet ${subnet} is not registered`, { details: { subnet } });
  const entry = s.models.find((m) => m.id === model);
  if (!entry) {
    throw new BaseError("MODEL_NOT_FOUND", `model ${model} is not offered in subnet ${subnet}`, {
      details: { subnet, model, offered: s.models.map((m) => m.id) },
    });
  }
  const descriptor = catalog.models.get(model);
  if (!descriptor)
    throw new BaseError("MODEL_NOT_FOUND", `model ${model} has no registry record`, { details: { model } });
  return { descriptor, price: BigInt(entry.price), ...(entry.pricing ? { pricing: entry.pricing } : {}) };
}

/**
 * Parts of an OCR pipeline `P` the agent needs besides the manifest: the registered
 * models `P-det`, `P-rec`, `P-cls` and `P-dict` (the recogniser's dictionary).
 */
export function ocrStages(catalog: Catalog, pipeline: string): ModelDescriptor[] {
  const parts = ["det", "rec", "cls", "dict"].map((s) => catalog.models.get(`${pipeline}-${s}`));
  const missing = ["det", "rec", "cls", "dict"].filter((_, i) => parts[i] === undefined);
  if (missing.length > 0) {
    throw new BaseError(
      "MODEL_NOT_FOUND",
      `OCR pipeline ${pipeline} is missing registered parts: ${missing.join(", ")}`,
    );
  }
  return parts as ModelDescriptor[];
}

/** A model offered for a task kind: the subnet that serves it and its price there. */
export interface Offer extends PricedModel {
  subnet: string;
}

/**
 * Where model `model` is offered for `task` (the cheapest subnet, or the one named): how
 * the OpenAI-compatible routes, whose requests name only a model, find their subnet. A
 * model of another kind (a chat request to an embedding model) is refused before anything
 * runs. A model without a `task` is a tensor model.
 */
export function offerOf(catalog: Catalog, model: string, task: ModelTask, subnet?: string): Offer {
  const descriptor = catalog.models.get(model);
  if (!descriptor) {
    throw new BaseError("MODEL_NOT_FOUND", `the model ${model} does not exist`, {
      details: { field: "model" },
    });
  }
  const kind = descriptor.task ?? "tensor";
  if (kind !== task) {
    throw new BaseError("INVALID_INPUT", `the model ${model} is a ${kind} model, not a ${task} one`, {
      details: { field: "model", task: kind },
    });
  }
  let best: Offer | undefined;
  for (const s of catalog.subnets.values()) {
    if (subnet !== undefined && s.id !== subnet) continue;
    const entry = s.models.find((m) => m.id === model);
    if (!entry) continue;
    // The lowest base fee: per-token prices rank subnets only by what requests will use.
    const price = BigInt(entry.price);
    if (!best || price < best.price)
      best = { subnet: s.id, descriptor, price, ...(entry.pricing ? { pricing: entry.pricing } : {}) };
  }
  if (!best) {
    const where = subnet === undefined ? "in any subnet" : `in subnet ${subnet}`;
    throw new BaseError("MODEL_NOT_FOUND", `the model ${model} is not offered ${where}`, {
      details: { field: "model", subnet },
    });
  }
  return best;
}
