import { BaseError, ModelDescriptor, SubnetRecordBody } from "@ncn/protocol";
import * as v from "valibot";
import { inAnswerOrder, registryAnswered } from "./registry-order.ts";

export interface PricedModel {
  descriptor: ModelDescriptor;
  price: bigint;
}

export interface Catalog {
  subnets: Map<string, v.InferOutput<typeof SubnetRecordBody>>;
  models: Map<string, ModelDescriptor>;
  fetchedAt: number;
}

const SubnetsBody = v.object({ subnets: v.array(v.unknown()) });
const ModelsBody = v.object({ models: v.array(v.unknown()) });
const CACHE_MS = 5_000;
let cache: { key: string; catalog: Catalog } | undefined;

/** Subnets and models from the registry (any reachable node), cached for a few seconds per isolate. */
export async function loadCatalog(
  registryUrls: readonly string[],
  fetcher: typeof fetch = fetch,
): Promise<Catalog> {
  const key = registryUrls.join(",");
  if (cache && cache.key === key && Date.now() - cache.catalog.fetchedAt < CACHE_MS) return cache.catalog;
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
  return { descriptor, price: BigInt(entry.price) };
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
