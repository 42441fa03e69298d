import { Hono } from "hono";
import type { ValidatorRecord } from "../../records/record-index.ts";
import type { ApiDeps } from "../api-deps.ts";

/** A validator as listed: its published record, if any, and whether the chain lists it as active. */
interface ValidatorListing {
  address: string;
  record: ValidatorRecord | null;
  active: boolean | null;
}

/** Validators: the records nodes published, marked with the chain's active set when known. */
export function validatorRoutes(deps: ApiDeps) {
  return new Hono().get("/v1/validators", async (c) => {
    const set = deps.validatorSet;
    const active = set ? new Set((await set.active()).map((a) => a.toLowerCase())) : undefined;
    const records = deps.index.list("validator").map((e) => e.record);
    const known = new Set<string>(records.map((r) => r.owner));
    const validators: ValidatorListing[] = records.map((record) => ({
      address: record.owner,
      record,
      active: active ? active.has(record.owner) : null,
    }));
    for (const address of active ?? []) {
      if (!known.has(address)) validators.push({ address, record: null, active: true });
    }
    return c.json({ validators, threshold: set ? await set.threshold() : null });
  });
}
