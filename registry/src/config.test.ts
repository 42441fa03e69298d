import { describe, expect, test } from "bun:test";
import { loadConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

function problemsOf(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    loadConfig(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe("loadConfig", () => {
  test("defaults bind HTTP to loopback and listen on a loopback TCP port", () => {
    const c = loadConfig([], {});
    expect(c.httpHost).toBe("127.0.0.1");
    expect(c.listen).toEqual(["/ip4/127.0.0.1/tcp/0"]);
    expect(c.bootstrap).toEqual([]);
    expect(c.spotCheckFraction).toBe(0.05);
  });

  test("flags win over the environment; lists take repeats and commas", () => {
    const c = loadConfig(
      [
        "--http-port",
        "9000",
        "--bootstrap",
        "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQqdyqtDGg2WbeKjvBJi9RQZwxoF6ehh2VBWmVJUpwvnp",
      ],
      {
        NCN_HTTP_PORT: "8000",
        NCN_DATA_DIR: "/tmp/x",
        NCN_TRUSTED_GATEWAYS:
          "0x70997970C51812dc3A010C7d01b50e0d17dc79C8, 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        NCN_VALIDATOR_KEY: `0x${"AB".repeat(32)}`,
      },
    );
    expect(c.httpPort).toBe(9000);
    expect(c.dataDir).toBe("/tmp/x");
    expect<string[]>(c.trustedGateways).toEqual([
      "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
      "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    ]);
    expect(c.validatorKey).toBe(`0x${"ab".repeat(32)}`);
    expect(c.bootstrap.length).toBe(1);
  });

  test("every problem is reported at once, with the setting named", () => {
    const problems = problemsOf(
      ["--http-port", "70000", "--listen", "not-a-multiaddr", "--spot-check-fraction", "1.5"],
      { NCN_TRUSTED_GATEWAYS: "nope", NCN_VALIDATOR_KEY: "0x12" },
    );
    expect(problems.some((p) => p.startsWith("httpPort"))).toBe(true);
    expect(problems.some((p) => p.startsWith("listen[0]"))).toBe(true);
    expect(problems.some((p) => p.startsWith("spotCheckFraction"))).toBe(true);
    expect(problems.some((p) => p.startsWith("validatorKey"))).toBe(true);
    expect(problems.some((p) => p.startsWith("trustedGateways[0]"))).toBe(true);
  });

  test("a key given as a flag is refused, and not echoed; the variable and the file are read", () => {
    const key: `0x${string}` = `0x${"cd".repeat(32)}`;
    const problems = problemsOf(["--validator-key", key]);
    expect(problems.join("\n")).toContain("--validator-key is refused");
    expect(problems.join("\n")).not.toContain(key.slice(2, 20));
    expect(loadConfig([], { NCN_VALIDATOR_KEY: key }).validatorKey).toBe(key);
  });

  test("a published development key is refused with a chain that is not on this machine", () => {
    // anvil's first account: its key is in every tutorial.
    const anvil0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const chain = ["--payment-contract", "0x5FbDB2315678afecb367f032d93F642f64180aa3"];
    const remote = problemsOf([...chain, "--rpc-url", "https://rpc.example"], { NCN_VALIDATOR_KEY: anvil0 });
    expect(remote.join("\n")).toContain("published development key");
    expect(remote.join("\n")).not.toContain(anvil0.slice(2, 20));
    // On this machine (the devnet), and with a key of one's own anywhere, it starts.
    for (const rpc of ["http://127.0.0.1:8545", "http://localhost:8545", "http://[::1]:8545"])
      expect(loadConfig([...chain, "--rpc-url", rpc], { NCN_VALIDATOR_KEY: anvil0 }).validatorKey).toBe(
        anvil0,
      );
    const own = `0x${"3a".repeat(32)}`;
    expect(
      loadConfig([...chain, "--rpc-url", "https://rpc.example"], { NCN_VALIDATOR_KEY: own }).rpcUrl,
    ).toBe("https://rpc.example");
  });

  test("unknown flags and half-configured chains are refused", () => {
    expect(problemsOf(["--no-such-flag", "1"]).join("\n")).toContain("no-such-flag");
    expect(problemsOf(["--rpc-url", "http://127.0.0.1:8545"]).join("\n")).toContain("paymentContract");
  });
});
