import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelDescriptor } from "@ncn/protocol";
import { PrivateDirError } from "@ncn/protocol/private-dir";
import { RuntimeError } from "../../errors.ts";
import {
  type ExternalDataModelOptions,
  externalDataModelBytes,
  externalDataModelDescriptor,
} from "../../testing/external-data-model.ts";
import { describeModel } from "./describe-model.ts";
import { OnnxRuntime } from "./onnx-runtime.ts";
import { loadOrt } from "./ort.ts";

// What the model steals: four floats no model computes, beside the working directory.
const CANARY = new Float32Array([1234.5, -987.25, 31337, 0.125]);
let root: string;
let home: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "ncn-isolation-"));
  home = join(root, "home");
  mkdirSync(join(home, ".local"), { recursive: true });
  writeFileSync(join(home, ".local", "canary.bin"), new Uint8Array(CANARY.buffer));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs `fn` with the working directory where the canary is reachable, as `$HOME` would be. */
async function fromHome<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.cwd();
  process.chdir(home);
  try {
    return await fn();
  } finally {
    process.chdir(before);
  }
}

const places = ["initializer", "subgraph"] as const;
const steal = (place: (typeof places)[number]): ExternalDataModelOptions => ({
  location: ".local/canary.bin",
  length: CANARY.byteLength,
  place,
});

async function rejection(p: Promise<unknown>): Promise<RuntimeError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RuntimeError);
    return e as RuntimeError;
  }
  throw new Error("expected a rejection");
}

describe("a model cannot read files through external data", () => {
  test("the attack is real: a bare onnxruntime session hands the canary back", async () => {
    const ort = await loadOrt();
    for (const place of places) {
      const out = await fromHome(async () => {
        const s = await ort.InferenceSession.create(externalDataModelBytes(steal(place)), {
          graphOptimizationLevel: "disabled",
          logSeverityLevel: 4,
        });
        try {
          return await s.run({});
        } finally {
          await s.release();
        }
      });
      expect(out.y?.data).toEqual(CANARY);
    }
  });

  test("run, describe and open refuse it with MODEL_REJECTED before onnxruntime sees it", async () => {
    // Graph optimisation off: the setting under which even the main-graph variant reads the file.
    const rt = await OnnxRuntime.create({ executionProvider: "cpu", graphOptimization: "disabled" });
    try {
      for (const place of places) {
        const bytes = externalDataModelBytes(steal(place));
        const model: ModelDescriptor = externalDataModelDescriptor({ ...steal(place), sources: ["file:/x"] });
        await fromHome(async () => {
          const run = await rejection(rt.run(model, async () => bytes.slice(), {}));
          expect(run.code).toBe("MODEL_REJECTED");
          expect(run.message).toContain('initializer "W"');
          const noOutputs = await rejection(rt.run({ ...model, outputs: [] }, async () => bytes.slice(), {}));
          expect(noOutputs.code).toBe("MODEL_REJECTED");
          expect((await rejection(describeModel(rt, "steal", bytes, ["file:/x"]))).code).toBe(
            "MODEL_REJECTED",
          );
          expect((await rejection(rt.openSession(bytes, "steal"))).code).toBe("MODEL_REJECTED");
        });
      }
      expect(rt.warmModels()).toEqual([]);
    } finally {
      await rt.close();
    }
  });

  test("every session reads external data only from the runtime's private empty folder", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "cpu", graphOptimization: "disabled" });
    const folder = (rt.sessionOptions().extra as Record<string, string>)[
      "session.model_external_initializers_file_folder_path"
    ];
    try {
      const ort = rt.ort;
      for (const place of places) {
        // Past the model check (straight to onnxruntime) with the runtime's own session options.
        const e = await fromHome(() =>
          ort.InferenceSession.create(externalDataModelBytes(steal(place)), rt.sessionOptions()).then(
            () => undefined,
            (err: unknown) => err as Error,
          ),
        );
        expect(e).toBeInstanceOf(Error);
        expect(e?.message).toContain("canary.bin");
        expect(e?.message).not.toContain(home);
      }
      expect(folder).toBeString();
      expect(statSync(folder as string).mode & 0o777).toBe(0o700);
    } finally {
      await rt.close();
    }
    // A folder the runtime made for itself goes with it.
    expect(existsSync(folder as string)).toBe(false);
  });

  test("a private folder given to the runtime must be empty; a loose mode is tightened", async () => {
    const given = join(root, "given");
    mkdirSync(given, { mode: 0o755 });
    const rt = await OnnxRuntime.create({ executionProvider: "cpu", privateDir: given });
    expect(statSync(given).mode & 0o777).toBe(0o700);
    await rt.close();
    expect(existsSync(given)).toBe(true);
    writeFileSync(join(given, "canary.bin"), new Uint8Array(CANARY.buffer));
    let err: unknown;
    try {
      await OnnxRuntime.create({ executionProvider: "cpu", privateDir: given });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PrivateDirError);
    expect((err as PrivateDirError).message).toContain("must be empty");
  });
});
