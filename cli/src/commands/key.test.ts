import { expect, test } from "bun:test";
import { BaseError } from "@ncn/protocol";
import { parseDuration, parseNcn } from "./key.ts";

test("--deposit takes NCN with up to 18 decimals; --expiry a duration", () => {
  expect(parseNcn("10", "--deposit")).toBe(10n * 10n ** 18n);
  expect(parseNcn("0.001", "--deposit")).toBe(10n ** 15n);
  expect(parseDuration("3600", "--expiry")).toBe(3_600n);
  expect(parseDuration("90m", "--expiry")).toBe(5_400n);
  expect(parseDuration("12h", "--expiry")).toBe(43_200n);
  expect(parseDuration("30d", "--expiry")).toBe(2_592_000n);
  for (const bad of ["", "-1", "1e3", "0.0000000000000000001", "ten"]) {
    expect(() => parseNcn(bad, "--deposit")).toThrow(BaseError);
  }
  for (const bad of ["", "0", "1w", "-5m", "1.5h"]) {
    expect(() => parseDuration(bad, "--expiry")).toThrow(BaseError);
  }
});
