import { describe, expect, test } from "bun:test";
import { ALL_LAYERS } from "./layers.ts";
import { sandboxDoctor } from "./sandbox-doctor.ts";
import { TEST_SHIM_CACHE } from "./test-support.ts";

describe("sandboxDoctor", () => {
  test("reports every layer available on this machine, then confinement seen from inside", async () => {
    const reports = await sandboxDoctor({ cacheDir: TEST_SHIM_CACHE });
    const layers = reports.map((r) => r.layer);
    expect(layers.slice(0, 2)).toEqual(["python", "shim"]);
    expect(layers.slice(2, -1).sort()).toEqual([...ALL_LAYERS].sort());
    expect(layers.at(-1)).toBe("end-to-end");
    for (const r of reports)
      expect(`${r.layer}: ${r.available} (${r.reason})`).toStartWith(`${r.layer}: true`);
    const e2e = reports.find((r) => r.layer === "end-to-end");
    expect(e2e?.reason).toContain("uid 1000, NoNewPrivs 1, Seccomp 2, CapEff 0000000000000000");
    expect(reports.find((r) => r.layer === "landlock-net")?.reason).toMatch(/Landlock ABI \d+/);
  });

  test("optional layers the operator turned off are not required", async () => {
    const reports = await sandboxDoctor({ cacheDir: TEST_SHIM_CACHE, requiredLayers: ["seccomp"] });
    const required = Object.fromEntries(reports.map((r) => [r.layer, r.required]));
    expect(required).toMatchObject({
      seccomp: true,
      "landlock-fs": false,
      "landlock-scope": false,
      "pid-namespace": true,
    });
  });

  test("a missing interpreter is reported and the end-to-end run is skipped", async () => {
    const reports = await sandboxDoctor({ cacheDir: TEST_SHIM_CACHE, python: "/nonexistent/python3" });
    expect(reports[0]).toMatchObject({ layer: "python", available: false });
    expect(reports.at(-1)).toMatchObject({ layer: "end-to-end", available: false });
  });
});
