import fc from "fast-check";

/**
 * Arbitraries the fuzz suites share (gateway routes, registry API, agent frames): hostile
 * JSON values, a valid body with one field replaced or removed, and JSON cut short. Every
 * suite runs them with `FUZZ_SEED`, so a failure replays.
 */

/** The seed every fuzz suite runs with. */
export const FUZZ_SEED = 20_261_206;

/** Runs per property; `NCN_FUZZ_RUNS` lowers it for a quick pass. */
export const FUZZ_RUNS = Number(process.env.NCN_FUZZ_RUNS ?? 2000);

/** Deeply nested arrays (and objects) of `depth` levels. */
const nested = (depth: number, object: boolean): unknown =>
  JSON.parse(
    object ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}` : `${"[".repeat(depth)}${"]".repeat(depth)}`,
  );

/** Hostile values: any JSON, huge and odd numbers, long strings, deep nesting. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(
    1e308,
    -1e308,
    2 ** 53 + 1,
    -0,
    0.1,
    -1,
    2 ** 31,
    2 ** 32 + 1,
    "",
    "0x",
    "-1",
    "1e999",
    "NaN",
    `0x${"f".repeat(200)}`,
    `0x${"0".repeat(64)}`,
    `0x${"0".repeat(130)}`,
  ),
  fc.bigInt({ min: 0n, max: 2n ** 300n }).map(String),
  fc.string({ minLength: 1000, maxLength: 70_000 }),
  fc.tuple(fc.integer({ min: 100, max: 3000 }), fc.boolean()).map(([depth, object]) => nested(depth, object)),
  fc.array(fc.jsonValue(), { maxLength: 200 }),
);

/** Every path (list of keys) to a field of `base`, at any depth. */
function fieldPaths(base: unknown): string[][] {
  const paths: string[][] = [];
  const walk = (o: unknown, at: string[]) => {
    if (typeof o !== "object" || o === null) return;
    for (const [k, val] of Object.entries(o)) {
      paths.push([...at, k]);
      walk(val, [...at, k]);
    }
  };
  walk(base, []);
  return paths;
}

/** `base` (a JSON object) with one field, at any depth, replaced by a hostile value or removed. */
export function mutatedBody(
  base: object,
  values: fc.Arbitrary<unknown> = hostileValue,
): fc.Arbitrary<unknown> {
  const paths = fieldPaths(base);
  return fc.tuple(fc.constantFrom(...paths), values, fc.boolean()).map(([path, value, remove]) => {
    const copy = structuredClone(base) as Record<string, unknown>;
    let o = copy;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
    const last = path[path.length - 1] as string;
    if (remove) delete o[last];
    else o[last] = value;
    return copy;
  });
}

/**
 * A value of the same kind as `value`, likely to pass a schema that `value` passes: hex of
 * the same (or a nearby) length, digit strings of any size, integers near and far, arrays
 * emptied, doubled or grown past common limits. These reach the checks behind the schema.
 */
export function similarValue(value: unknown): fc.Arbitrary<unknown> {
  if (typeof value === "string") {
    const hex = /^0x[0-9a-fA-F]*$/.exec(value);
    if (hex) {
      const n = value.length - 2;
      return fc.oneof(
        hexDigits(n).map((h) => `0x${h}`),
        fc.constantFrom(value.toUpperCase().replace("0X", "0x"), `0x${"0".repeat(n)}`, `0x${"f".repeat(n)}`),
        fc.integer({ min: 0, max: n + 4 }).chain((m) => hexDigits(m).map((h) => `0x${h}`)),
      );
    }
    if (/^\d+$/.test(value)) {
      return fc.oneof(
        fc.bigInt({ min: 0n, max: 2n ** 300n }).map(String),
        fc.constantFrom("0", `${value}0`, (2n ** 256n).toString(), (2n ** 256n - 1n).toString()),
      );
    }
    return fc.oneof(
      fc.string({ maxLength: Math.max(8, value.length * 2) }),
      fc.stringMatching(/^[a-z0-9][a-z0-9._:-]{0,70}$/),
      fc.constantFrom(value.toUpperCase(), `${value} `, `${value}-x`, value.repeat(40)),
    );
  }
  if (typeof value === "number") {
    return fc.oneof(
      fc.integer(),
      fc.integer({ min: 0, max: 10 }).map((d) => value + d - 5),
      fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, value * 1000, value / 3, 4_294_967_296),
      fc.double({ noNaN: true }),
    );
  }
  if (typeof value === "boolean") return fc.boolean();
  if (Array.isArray(value)) {
    return fc.constantFrom(
      [],
      [...value, ...value],
      value.slice(1),
      Array.from({ length: 1100 }, () => value[0]),
    );
  }
  return fc.constant(value);
}

/** `base` with one field, at any depth, replaced by a value of the same kind (see `similarValue`). */
export function similarBody(base: object): fc.Arbitrary<unknown> {
  const paths = fieldPaths(base);
  return fc.constantFrom(...paths).chain((path) => {
    let at: unknown = base;
    for (const k of path) at = (at as Record<string, unknown>)[k];
    return similarValue(at).map((value) => {
      const copy = structuredClone(base) as Record<string, unknown>;
      let o = copy;
      for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
      o[path[path.length - 1] as string] = value;
      return copy;
    });
  });
}

/** Raw text, not JSON of a value: sent as it is. */
export interface RawText {
  raw: string;
}

export function isRawText(x: unknown): x is RawText {
  return typeof x === "object" && x !== null && "raw" in x && typeof x.raw === "string";
}

/** The JSON text of `base` cut at any point (never the whole text). */
export function truncatedJson(base: unknown): fc.Arbitrary<RawText> {
  const text = JSON.stringify(base);
  return fc.integer({ min: 0, max: Math.max(0, text.length - 1) }).map((n) => ({ raw: text.slice(0, n) }));
}

/**
 * Bodies for a route whose valid body is `base`: mostly one-field mutations (hostile values,
 * and values of the same kind), then hostile values in its place, truncated JSON and text.
 */
export function fuzzBodies(base: object): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: mutatedBody(base), weight: 4 },
    { arbitrary: similarBody(base), weight: 4 },
    { arbitrary: hostileValue, weight: 2 },
    { arbitrary: truncatedJson(base), weight: 1 },
    { arbitrary: fc.string({ maxLength: 2000 }).map((raw): RawText => ({ raw })), weight: 1 },
  );
}

/** The text to send for a fuzzed body. */
export function bodyText(body: unknown): string {
  return isRawText(body) ? body.raw : JSON.stringify(body);
}

/** Hex strings of exactly `n` digits (either case). */
export const hexDigits = (n: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF".split("")), minLength: n, maxLength: n });
