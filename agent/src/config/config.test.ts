import { describe, expect, test } from "bun:test";
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

  test("required settings are named when missing", () => {
    const problems = problemsOf(() => loadConfig({}, {}, { require: ["gateway", "subnets"] }));
    expect(problems).toEqual(["--gateway (NCN_GATEWAY) is required", "--subnet (NCN_SUBNETS) is required"]);
  });
});
