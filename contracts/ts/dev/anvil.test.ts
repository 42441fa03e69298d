import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { getChainId } from "viem/actions";
import { createNcnReadClient } from "../client.ts";
import { startAnvil } from "./anvil.ts";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("startAnvil", () => {
  test("listens on a free loopback port with the anvil binary's own pid, and stop kills it", async () => {
    const anvil = await startAnvil({ chainId: 4242 });
    try {
      expect(anvil.url).toBe(`http://127.0.0.1:${anvil.port}`);
      expect(readFileSync(`/proc/${anvil.pid}/cmdline`, "utf8").split("\0")[0]).toEndWith("/bin/anvil");
      const client = createNcnReadClient({ rpcUrl: anvil.url, chainId: 4242 });
      expect(await getChainId(client)).toBe(4242);
    } finally {
      await anvil.stop();
    }
    expect(isRunning(anvil.pid)).toBe(false);
    await anvil.stop();
  });

  test("two instances get different ports", async () => {
    const [a, b] = await Promise.all([startAnvil(), startAnvil()]);
    try {
      expect(a.port).not.toBe(b.port);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test("fails with ANVIL_START_FAILED when anvil rejects its arguments", async () => {
    await expect(startAnvil({ args: ["--no-such-flag"] })).rejects.toMatchObject({
      reason: "ANVIL_START_FAILED",
      code: "UNAVAILABLE",
    });
  });
});
