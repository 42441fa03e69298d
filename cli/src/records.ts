import { claimName, createNcnClient, type NameKind } from "@ncn/contracts/actions";
import {
  BaseError,
  errorFromBody,
  type ModelDescriptor,
  recordSigningText,
  SignedRecord,
  type TokenPrices,
  type UnsignedRecord,
} from "@ncn/protocol";
import * as v from "valibot";
import type { LocalAccount } from "viem";

/** Signs a registry record with its owner's key. */
export async function signRecord(
  account: LocalAccount,
  record: Omit<UnsignedRecord, "owner">,
): Promise<SignedRecord> {
  const owner = account.address.toLowerCase();
  const unsigned = { ...record, owner } as UnsignedRecord;
  const signature = await account.signMessage({ message: recordSigningText(unsigned) });
  return v.parse(SignedRecord, { ...unsigned, signature });
}

/** Where subnet and model names are claimed: the chain and its `ValidatorRegistry`. */
export interface NameChain {
  rpcUrl: string;
  chainId: number;
  registry: `0x${string}`;
}

/**
 * Claims subnet or model names for `owner` on chain, before their records are published:
 * registry nodes on that chain accept a name's records only from its owner. Names the owner
 * holds already cost nothing; a name another key holds fails with `NAME_TAKEN`.
 */
export async function claimRecordNames(
  chain: NameChain,
  owner: LocalAccount,
  names: readonly { kind: NameKind; name: string }[],
): Promise<void> {
  const client = createNcnClient({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, account: owner });
  for (const name of names) await claimName(client, { registry: chain.registry }, name);
}

/** Publishes a signed record through a registry node's HTTP API. */
export async function publishRecord(registryUrl: string, record: SignedRecord): Promise<void> {
  const res = await fetch(`${registryUrl.replace(/\/$/, "")}/v1/records`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(record),
  });
  if (!res.ok) throw errorFromBody(await res.json().catch(() => undefined), res.status);
}

export function modelRecord(model: ModelDescriptor, seq: number): Omit<UnsignedRecord, "owner"> {
  return { kind: "model", key: model.id, seq, body: model } as Omit<UnsignedRecord, "owner">;
}

export function subnetRecord(
  owner: string,
  subnet: {
    id: string;
    name: string;
    description?: string;
    models: { id: string; price: string; pricing?: TokenPrices }[];
  },
  seq: number,
): Omit<UnsignedRecord, "owner"> {
  return {
    kind: "subnet",
    key: subnet.id,
    seq,
    body: { ...subnet, owner: owner.toLowerCase() },
  } as Omit<UnsignedRecord, "owner">;
}

/** Signs and publishes a subnet offering `models` at their prices. */
export async function publishSubnet(
  registryUrl: string,
  owner: LocalAccount,
  subnet: { id: string; name: string; models: { id: string; price: string; pricing?: TokenPrices }[] },
  seq = Date.now(),
): Promise<void> {
  await publishRecord(registryUrl, await signRecord(owner, subnetRecord(owner.address, subnet, seq)));
}

/** Waits until every registry lists the given subnets and models. */
export async function waitForCatalog(
  registryUrls: readonly string[],
  subnets: readonly string[],
  models: readonly string[],
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const Listing = v.object({
    subnets: v.optional(v.array(v.object({ key: v.string() }))),
    models: v.optional(v.array(v.object({ key: v.string() }))),
  });
  for (const url of registryUrls) {
    for (;;) {
      const [s, m] = await Promise.all([
        fetch(`${url}/v1/subnets`).then((r) => r.json()),
        fetch(`${url}/v1/models`).then((r) => r.json()),
      ]);
      const have = new Set([
        ...(v.parse(Listing, s).subnets ?? []).map((x) => `s:${x.key}`),
        ...(v.parse(Listing, m).models ?? []).map((x) => `m:${x.key}`),
      ]);
      if (subnets.every((id) => have.has(`s:${id}`)) && models.every((id) => have.has(`m:${id}`))) break;
      if (Date.now() > deadline)
        throw new BaseError("UNAVAILABLE", `registry ${url} did not list the catalog in time`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
