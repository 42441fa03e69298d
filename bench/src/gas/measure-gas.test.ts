import { describe, expect, test } from "bun:test";
import { gasTableMarkdown } from "./gas-table.ts";
import { defaultShape, measureGas } from "./measure-gas.ts";

describe("settlement gas", () => {
  test("a 100-receipt batch (5 sessions, 5 nodes) settles under 2,000 gas per request, far below escrow", async () => {
    const report = await measureGas([defaultShape(10), defaultShape(100)]);
    const [ten, hundred] = report.batches;
    if (!ten || !hundred) throw new Error("missing measurement");
    expect(hundred).toMatchObject({ requests: 100, sessions: 5, nodes: 5 });
    expect(hundred.gasPerRequest).toBeLessThan(2_000);
    expect(hundred.gasPerRequest).toBeLessThan(ten.gasPerRequest);
    expect(hundred.coldGas).toBeGreaterThan(hundred.gas);
    expect(Number(report.escrow.perRequest)).toBeGreaterThan(50 * hundred.gasPerRequest);
    expect(report.escrow.perRequest).toBe(report.escrow.initiate + report.escrow.complete);
    const markdown = gasTableMarkdown(report, "note");
    expect(markdown).toContain(`| 100 | 5 / 5 | ${Number(hundred.gas).toLocaleString("en-US")} |`);
  });
});
