import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type LocalChain, startLocalChain } from "@ncn/contracts";
import type { SignedRecord } from "@ncn/protocol";
import type { PrivateKeyAccount } from "viem/accounts";
import { contractsNameOwners } from "../chain/contracts-name-owners.ts";
import type { NameOwnerReader } from "../chain/name-owners.ts";
import { TOPIC_RECORDS } from "../constants.ts";
import type { RegistryNode } from "../node.ts";
import { startTestNode, tempDir, waitFor } from "../test-support/cluster.ts";
import { claimNamesOf } from "../test-support/names.ts";
import { fakeModel, newAccount, signRecord } from "../test-support/records.ts";

// Owner A claims "vision" (subnet) and "vision-net" (model) on chain and publishes both with a
// short expiry; once they have expired, key B tries to take the names over on every node,
// through a node of its own that does not read the chain (it pushes B's records over the DHT,
// gossip and index sync), and on a node that joined after the expiry and never saw A's records.

const SUBNET = "vision";
const MODEL = "vision-net";
const LIFETIME_MS = 2_500;

let chain: LocalChain;
let dir: ReturnType<typeof tempDir>;
/** Honest nodes, which read name claims from the chain. */
const nodes: RegistryNode[] = [];
/** B's node: no chain, so it keeps whichever owner it saw first, as every node once did. */
let rogue: RegistryNode;
const alice = newAccount();
const bob = newAccount();
let aliceRecords: SignedRecord[];
let expiredAt: number;

function chainConfig() {
  return {
    rpcUrl: chain.anvil.url,
    paymentContract: chain.contracts.payment,
    validatorRegistry: chain.contracts.registry,
    spotCheckFraction: 0,
  };
}

function subnet(owner: PrivateKeyAccount, seq: number, expiresAt: number, id = SUBNET) {
  return signRecord(owner, {
    kind: "subnet",
    key: id,
    seq,
    expiresAt,
    body: {
      id,
      name: `subnet ${id}`,
      owner: owner.address.toLowerCase(),
      models: [{ id: MODEL, price: "100" }],
    },
  });
}

function model(owner: PrivateKeyAccount, seq: number, expiresAt: number) {
  return signRecord(owner, {
    kind: "model",
    key: MODEL,
    seq,
    expiresAt,
    // Agents fetch a model from its record's sources: a taker would point them at its own file.
    body: { ...fakeModel(MODEL), sources: [`https://models.invalid/${owner.address.toLowerCase()}.onnx`] },
  });
}

async function post(node: RegistryNode, record: SignedRecord): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${node.url}/v1/records`, { method: "POST", body: JSON.stringify(record) });
  const body = (await res.json()) as { error?: { code?: string } };
  return body.error?.code === undefined
    ? { status: res.status }
    : { status: res.status, code: body.error.code };
}

const ownerOn = (node: RegistryNode, kind: "subnet" | "model", key: string): string | undefined =>
  node.index.get(kind, key)?.record.owner;

beforeAll(async () => {
  chain = await startLocalChain({ validators: 1, deploy: { threshold: 1 } });
  dir = tempDir();
  nodes.push(await startTestNode(join(dir.path, "n0"), { config: chainConfig() }));
  nodes.push(
    await startTestNode(join(dir.path, "n1"), {
      config: { ...chainConfig(), bootstrap: nodes[0]?.multiaddrs() ?? [] },
    }),
  );
  rogue = await startTestNode(join(dir.path, "rogue"), {
    config: { bootstrap: nodes[0]?.multiaddrs() ?? [] },
  });
  const all = [...nodes, rogue];
  await waitFor(() => all.every((n) => n.routingTableSize() > 1), 20_000, "nodes connected");
  await waitFor(() => all.every((n) => n.gossip.subscribers(TOPIC_RECORDS) > 1), 10_000, "gossip");
  const expiresAt = Date.now() + LIFETIME_MS;
  aliceRecords = [await subnet(alice, 1, expiresAt), await model(alice, 1, expiresAt)];
  await claimNamesOf(chain, alice, aliceRecords);
  await chain.fundEther(bob.address);
  for (const record of aliceRecords) expect((await post(nodes[0] as RegistryNode, record)).status).toBe(201);
  for (const n of nodes) {
    await waitFor(() => ownerOn(n, "subnet", SUBNET) && ownerOn(n, "model", MODEL), 10_000, "A's records");
  }
  expiredAt = expiresAt;
}, 60_000);

afterAll(async () => {
  await Promise.all([...nodes, rogue].map((n) => n?.stop()));
  await chain?.stop();
  dir?.cleanup();
});

describe("subnet and model names keep their on-chain owner", () => {
  test("while A's records live, B's records under the same names are refused with NAME_TAKEN", async () => {
    for (const n of nodes) {
      expect(await post(n, await subnet(bob, 5, Date.now() + 60_000))).toEqual({
        status: 403,
        code: "NAME_TAKEN",
      });
      expect(await post(n, await model(bob, 5, Date.now() + 60_000))).toEqual({
        status: 403,
        code: "NAME_TAKEN",
      });
      expect(ownerOn(n, "subnet", SUBNET)).toBe(alice.address.toLowerCase());
    }
  });

  test("after A's records expire, B is refused on every node, by HTTP, DHT and gossip, and nothing is stored", async () => {
    while (Date.now() <= expiredAt + 50) await Bun.sleep(50);
    for (const n of [...nodes, rogue]) {
      n.index.prune();
      expect(n.index.get("subnet", SUBNET)).toBeUndefined();
      expect(n.index.get("model", MODEL)).toBeUndefined();
    }
    const bobSubnet = await subnet(bob, 10, Date.now() + 60_000);
    const bobModel = await model(bob, 10, Date.now() + 60_000);
    for (const n of nodes) {
      expect(await post(n, bobSubnet)).toEqual({ status: 403, code: "NAME_TAKEN" });
      expect(await post(n, bobModel)).toEqual({ status: 403, code: "NAME_TAKEN" });
    }
    // B's own node takes them (it reads no chain) and puts them in the DHT and on gossip.
    for (const record of [bobSubnet, bobModel])
      expect((await rogue.records.publish(record)).result).toBe("inserted");
    expect(ownerOn(rogue, "subnet", SUBNET)).toBe(bob.address.toLowerCase());
    await Bun.sleep(1_000);
    for (const n of nodes) {
      expect(n.index.get("subnet", SUBNET)).toBeUndefined();
      expect(n.index.get("model", MODEL)).toBeUndefined();
      // A lookup reaches B's node, whose copy the honest node's DHT validator refuses.
      expect(await n.records.dhtGet("subnet", SUBNET)).toBeUndefined();
      expect(await n.records.dhtGet("model", MODEL)).toBeUndefined();
      const res = await fetch(`${n.url}/v1/records/subnet/${SUBNET}?source=dht`);
      expect(res.status).toBe(404);
    }
  }, 30_000);

  test("a node started after the expiry, which never saw A's records, also refuses B", async () => {
    // The late node's real chain reader, noting each name it had to check.
    const chainNames = contractsNameOwners({
      rpcUrl: chain.anvil.url,
      chainId: chain.deployment.chainId,
      validatorRegistry: chain.contracts.registry,
    });
    const checked = new Set<string>();
    const names: NameOwnerReader = {
      async ownerOf(kind, name) {
        const owner = await chainNames.ownerOf(kind, name);
        checked.add(`${kind}:${name}`);
        return owner;
      },
    };
    const late = await startTestNode(join(dir.path, "late"), {
      names,
      config: { ...chainConfig(), bootstrap: rogue.multiaddrs() },
    });
    nodes.push(late);
    await waitFor(() => late.routingTableSize() > 1, 20_000, "late node connected");
    // It pulled the index of its peers, B's node included, and refused B's names in it.
    await waitFor(
      () => checked.has(`subnet:${SUBNET}`) && checked.has(`model:${MODEL}`),
      15_000,
      "B's records handed to the late node",
    );
    await Bun.sleep(200);
    expect(late.index.get("subnet", SUBNET)).toBeUndefined();
    expect(late.index.get("model", MODEL)).toBeUndefined();
    expect(await post(late, await subnet(bob, 20, Date.now() + 60_000))).toEqual({
      status: 403,
      code: "NAME_TAKEN",
    });
    expect(await post(late, await model(bob, 20, Date.now() + 60_000))).toEqual({
      status: 403,
      code: "NAME_TAKEN",
    });
    expect(late.index.get("subnet", SUBNET)).toBeUndefined();
    expect(late.index.get("model", MODEL)).toBeUndefined();
  }, 30_000);

  test("A renews and updates its names on any node, and every node takes the new records", async () => {
    const late = nodes[2] as RegistryNode;
    await waitFor(() => late.gossip.subscribers(TOPIC_RECORDS) > 0, 10_000, "late node gossip");
    const renewed = await subnet(alice, 2, Date.now() + 60_000);
    expect((await post(late, renewed)).status).toBe(201);
    expect((await post(nodes[1] as RegistryNode, await model(alice, 2, Date.now() + 60_000))).status).toBe(
      201,
    );
    for (const n of nodes) {
      await waitFor(() => n.index.get("subnet", SUBNET)?.record.seq === 2, 10_000, "renewed subnet");
      await waitFor(() => n.index.get("model", MODEL)?.record.seq === 2, 10_000, "renewed model");
      expect(ownerOn(n, "subnet", SUBNET)).toBe(alice.address.toLowerCase());
    }
  }, 30_000);

  test("a name nobody claimed on chain is refused (FORBIDDEN, reason unclaimed) and not stored", async () => {
    const res = await fetch(`${nodes[0]?.url}/v1/records`, {
      method: "POST",
      body: JSON.stringify(await subnet(bob, 1, Date.now() + 60_000, "unclaimed-subnet")),
    });
    const body = (await res.json()) as { error: { code: string; details?: { reason?: string } } };
    expect([res.status, body.error.code, body.error.details?.reason]).toEqual([
      403,
      "FORBIDDEN",
      "unclaimed",
    ]);
    expect(nodes[0]?.index.get("subnet", "unclaimed-subnet")).toBeUndefined();
  });
});
