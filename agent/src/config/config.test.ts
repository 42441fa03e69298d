import { describe, expect, test } from "bun:test";
import { totalmem } from "node:os";
import { ConfigError } from "../errors.ts";
import { loadConfig } from "./config.ts";

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).problems];
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  test("defaults, env values and flags overriding env", () => {
    const c = loadConfig({ maxConcurrency: "4", subnet: undefined } as never, {
      NCN_GATEWAY: "https://gw.example/base/",
      NCN_CHAIN_ID: "8453",
      NCN_PAYMENT_CONTRACT: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      NCN_SUBNETS: "ocr, vision",
      NCN_MAX_CONCURRENCY: "9",
      NCN_EXECUTION_PROVIDER: "CPU",
      HOME: "/home/x",
      XDG_DATA_HOME: "/xdg",
    });
    expect(c.gateway).toBe("wss://gw.example/base");
    expect(c.subnets).toEqual(["ocr", "vision"]);
    expect(c.maxConcurrency).toBe(4);
    expect(c.executionProvider).toBe("cpu");
    expect(c.dataDir).toBe("/xdg/ncn-agent");
    expect(c.graphOptimization).toBe("all");
    expect(c.cacheMaxBytes).toBe(10240 * 1024 * 1024);
    expect(c.pinnedDomain).toEqual({
      chainId: 8453,
      verifyingContract: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    });
    expect(c.maxQueued).toBe(256);
    expect(c.outboxMaxBytes).toBe(512 * 1024 * 1024);
    expect(loadConfig({ gateway: "http://127.0.0.1:8787" }, {}).gateway).toBe("ws://127.0.0.1:8787");
  });

  test("every bad setting is reported at once, naming flag and variable", () => {
    const problems = problemsOf(() =>
      loadConfig(
        { threads: "-1" },
        {
          NCN_GATEWAY: "ftp://x",
          NCN_MAX_CONCURRENCY: "lots",
          NCN_GRAPH_OPT: "max",
          NCN_PRIVATE_KEY: "0x1234",
          NCN_SUBNETS: "Bad Subnet!",
        },
        { require: ["gateway"] },
      ),
    );
    const text = problems.join("\n");
    expect(problems.length).toBeGreaterThanOrEqual(6);
    for (const name of [
      "NCN_GATEWAY",
      "NCN_MAX_CONCURRENCY",
      "NCN_GRAPH_OPT",
      "NCN_PRIVATE_KEY",
      "--threads",
      "NCN_SUBNETS",
    ]) {
      expect(text).toContain(name);
    }
    // A private key never appears in an error.
    expect(text).not.toContain("0x1234");
  });

  test("model sources: production defaults, and the operator's local-development switches", () => {
    const strict = loadConfig({}, {});
    expect(strict.sources).toEqual({ allowHttp: false, allowPrivateHosts: false, localDirs: [] });
    expect(strict.maxModelBytes).toBe(4096 * 1024 * 1024);
    const dev = loadConfig(
      { modelDirs: "/srv/models, ./rel" },
      { NCN_ALLOW_HTTP_SOURCES: "true", NCN_ALLOW_PRIVATE_SOURCES: "1", NCN_MAX_MODEL_MB: "64" },
    );
    expect(dev.sources).toEqual({
      allowHttp: true,
      allowPrivateHosts: true,
      localDirs: ["/srv/models", `${process.cwd()}/rel`],
    });
    expect(dev.maxModelBytes).toBe(64 * 1024 * 1024);
    const problems = problemsOf(() =>
      loadConfig(
        { allowPrivateSources: "maybe" },
        { NCN_MAX_MODEL_MB: "0", NCN_ALLOW_HTTP_SOURCES: "yes please" },
      ),
    ).join("\n");
    for (const name of ["--allow-private-sources", "NCN_MAX_MODEL_MB", "NCN_ALLOW_HTTP_SOURCES"])
      expect(problems).toContain(name);
  });

  test("model memory: three quarters of the machine's by default, or what the operator sets (then on a GPU too)", () => {
    const auto = loadConfig({}, { HOME: "/home/x" });
    expect(auto.maxModelMemoryBytes).toBe(Math.floor(totalmem() * 0.75));
    expect(auto.modelMemorySet).toBe(false);
    const set = loadConfig({ maxModelMemoryMb: "512" }, { HOME: "/home/x" });
    expect(set.maxModelMemoryBytes).toBe(512 * 1024 * 1024);
    expect(set.modelMemorySet).toBe(true);
    expect(
      problemsOf(() => loadConfig({}, { HOME: "/home/x", NCN_MAX_MODEL_MEMORY_MB: "10" })).join(),
    ).toContain("NCN_MAX_MODEL_MEMORY_MB: must be a whole number from 64");
  });

  test("required settings are named when missing", () => {
    const problems = problemsOf(() => loadConfig({}, {}, { require: ["gateway", "subnets"] }));
    expect(problems).toEqual(["--gateway (NCN_GATEWAY) is required", "--subnet (NCN_SUBNETS) is required"]);
  });

  test("plain ws:// only to this machine; a remote gateway needs the signing domain pinned", () => {
    for (const local of ["ws://127.0.0.1:8787", "http://localhost:8787", "ws://[::1]:8787", "ws://127.8.0.1"])
      expect(loadConfig({ gateway: local }, {}).gateway).toStartWith("ws://");
    for (const remote of [
      "ws://gw.example",
      "http://10.0.0.5:8787",
      "ws://127.0.0.1.nip.io",
      "ws://localhost.evil.example",
    ]) {
      const problems = problemsOf(() =>
        loadConfig({ gateway: remote, chainId: "1", paymentContract: `0x${"ab".repeat(20)}` }, {}),
      );
      expect(problems.join("\n")).toContain("must use wss://");
    }
    const unpinned = problemsOf(() => loadConfig({ gateway: "wss://gw.example" }, {})).join("\n");
    expect(unpinned).toContain("required for a gateway that is not on this machine");
    const half = problemsOf(() => loadConfig({ gateway: "ws://127.0.0.1:1", chainId: "1" }, {})).join("\n");
    expect(half).toContain("go together");
    const badContract = problemsOf(() =>
      loadConfig({ gateway: "wss://gw.example", chainId: "1", paymentContract: "0x12" }, {}),
    ).join("\n");
    expect(badContract).toContain("--payment-contract");
    // Loopback gateways (the devnet, tests) may leave the domain to the gateway.
    expect(loadConfig({ gateway: "ws://127.0.0.1:1" }, {}).pinnedDomain).toBeUndefined();
  });

  test("a key file, or a key, never both; queue and outbox limits are parsed", () => {
    const c = loadConfig({ privateKeyFile: "keys/agent.key", maxQueued: "0", outboxMaxMb: "2" }, {});
    expect(c.privateKeyFile).toBe(`${process.cwd()}/keys/agent.key`);
    expect(c.maxQueued).toBe(0);
    expect(c.outboxMaxBytes).toBe(2 * 1024 * 1024);
    const both = problemsOf(() =>
      loadConfig({ privateKeyFile: "/k" }, { NCN_PRIVATE_KEY: `0x${"11".repeat(32)}` }),
    ).join("\n");
    expect(both).toContain("cannot both be given");
    expect(both).not.toContain("1111");
  });
});
