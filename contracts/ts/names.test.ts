import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BaseError } from "@ncn/protocol";
import { privateKeyToAccount } from "viem/accounts";
import { claimName, readNameOwner, transferName } from "./actions/index.ts";
import { devKey, type LocalChain, startLocalChain } from "./dev/local-chain.ts";

const alice = devKey("names-alice");
const bob = devKey("names-bob");
const addr = (key: `0x${string}`) => privateKeyToAccount(key).address.toLowerCase() as `0x${string}`;

let chain: LocalChain;
beforeAll(async () => {
  chain = await startLocalChain({ validators: 1, deploy: { threshold: 1 } });
  await chain.fundEther(privateKeyToAccount(alice).address);
  await chain.fundEther(privateKeyToAccount(bob).address);
});
afterAll(() => chain.stop());

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof BaseError ? e.code : String(e);
  }
};

describe("name claims", () => {
  test("the first claimer owns a name; a second key gets NAME_TAKEN; the owner claims again for free", async () => {
    const name = { kind: "subnet", name: "names-ocr" } as const;
    expect(await readNameOwner(chain.client(alice), chain.contracts, name)).toBeNull();
    expect((await claimName(chain.client(alice), chain.contracts, name)).receipt?.status).toBe("success");
    expect(await readNameOwner(chain.client(bob), chain.contracts, name)).toBe(addr(alice));
    expect(await codeOf(claimName(chain.client(bob), chain.contracts, name))).toBe("NAME_TAKEN");
    expect((await claimName(chain.client(alice), chain.contracts, name)).receipt).toBeNull();
    // Subnet and model names are separate namespaces.
    await claimName(chain.client(bob), chain.contracts, { kind: "model", name: "names-ocr" });
    expect(
      await readNameOwner(chain.client(bob), chain.contracts, { kind: "model", name: "names-ocr" }),
    ).toBe(addr(bob));
  });

  test("an invalid name is refused with INVALID_INPUT and claims nothing", async () => {
    expect(
      await codeOf(claimName(chain.client(alice), chain.contracts, { kind: "model", name: "Bad Name" })),
    ).toBe("INVALID_INPUT");
  });

  test("the owner can hand a name over", async () => {
    const name = { kind: "model", name: "names-handover" } as const;
    await claimName(chain.client(alice), chain.contracts, name);
    await transferName(chain.client(alice), chain.contracts, {
      ...name,
      to: privateKeyToAccount(bob).address,
    });
    expect(await readNameOwner(chain.client(alice), chain.contracts, name)).toBe(addr(bob));
    expect(await codeOf(claimName(chain.client(alice), chain.contracts, name))).toBe("NAME_TAKEN");
  });
});
