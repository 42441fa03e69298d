import { describe, expect, test } from "bun:test";
import { cachedNameOwners, type NamedKind, type NameOwnerReader } from "./name-owners.ts";

const OWNER = "0x00000000000000000000000000000000000000aa" as const;

/** A claim table read through a counter, standing in for `ValidatorRegistry.nameOwner`. */
function claims(initial: Record<string, `0x${string}`> = {}) {
  const table = new Map(Object.entries(initial));
  const reads: string[] = [];
  const reader: NameOwnerReader = {
    async ownerOf(kind: NamedKind, name: string) {
      reads.push(`${kind}:${name}`);
      await Bun.sleep(1);
      return table.get(`${kind}:${name}`) ?? null;
    },
  };
  return { table, reads, reader };
}

describe("cachedNameOwners", () => {
  test("an owner is read once and kept for its TTL; concurrent reads share one chain call", async () => {
    let now = 1_000;
    const c = claims({ "subnet:ocr": OWNER });
    const names = cachedNameOwners(c.reader, { ownerTtlMs: 60_000, now: () => now });
    const answers = await Promise.all([names.ownerOf("subnet", "ocr"), names.ownerOf("subnet", "ocr")]);
    expect(answers).toEqual([OWNER, OWNER]);
    expect(await names.ownerOf("subnet", "ocr")).toBe(OWNER);
    expect(c.reads).toEqual(["subnet:ocr"]);
    now += 60_001;
    await names.ownerOf("subnet", "ocr");
    expect(c.reads).toEqual(["subnet:ocr", "subnet:ocr"]);
  });

  test("an unclaimed answer is kept only briefly, so a fresh claim is seen soon", async () => {
    let now = 1_000;
    const c = claims();
    const names = cachedNameOwners(c.reader, { unclaimedTtlMs: 1_000, now: () => now });
    expect(await names.ownerOf("model", "m")).toBeNull();
    c.table.set("model:m", OWNER);
    expect(await names.ownerOf("model", "m")).toBeNull();
    now += 1_001;
    expect(await names.ownerOf("model", "m")).toBe(OWNER);
    // Kinds are separate names.
    expect(await names.ownerOf("subnet", "m")).toBeNull();
  });

  test("the cache holds at most maxEntries names, dropping the oldest", async () => {
    const c = claims();
    const names = cachedNameOwners(c.reader, { maxEntries: 2, now: () => 0 });
    for (const n of ["a", "b", "c"]) await names.ownerOf("subnet", n);
    await names.ownerOf("subnet", "c");
    await names.ownerOf("subnet", "a");
    expect(c.reads).toEqual(["subnet:a", "subnet:b", "subnet:c", "subnet:a"]);
  });

  test("a failed read is not cached", async () => {
    let fail = true;
    const names = cachedNameOwners({
      async ownerOf() {
        if (fail) throw new Error("rpc down");
        return OWNER;
      },
    });
    await expect(names.ownerOf("subnet", "x")).rejects.toThrow("rpc down");
    fail = false;
    expect(await names.ownerOf("subnet", "x")).toBe(OWNER);
  });
});
