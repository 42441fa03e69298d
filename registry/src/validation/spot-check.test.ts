import { afterEach, describe, expect, test } from "bun:test";
import type { ModelDescriptor, TaskInput, TaskResult } from "@ncn/protocol";
import type { ModelRecord } from "../records/record-index.ts";
import { RecordIndex } from "../records/record-index.ts";
import { openDatabase } from "../store/database.ts";
import { fakeModel, modelRecord, newAccount } from "../test-support/records.ts";
import { spotCheck } from "./spot-check.ts";

const dbs: ReturnType<typeof openDatabase>[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

async function indexed(model: ModelDescriptor): Promise<{ index: RecordIndex; record: ModelRecord }> {
  const db = openDatabase(":memory:");
  dbs.push(db);
  const index = new RecordIndex(db);
  index.upsert(await modelRecord(newAccount(), model));
  const record = index.get("model", model.id)?.record;
  if (!record) throw new Error("model not indexed");
  return { index, record };
}

const ocrInput = { kind: "ocr", model: "ppocr-v4", image: "aGVsbG8gd29ybGQ=" } as TaskInput;
const ocrResult = {
  kind: "ocr",
  lines: [
    {
      text: "hello",
      score: 0.99,
      box: [
        [0, 0],
        [10, 0],
        [10, 5],
        [0, 5],
      ],
    },
  ],
} as TaskResult;

describe("spot checks count what they could not check", () => {
  test("a sampled OCR result without an OCR re-executor, and a python model, count as unchecked, not passed", async () => {
    const outcomes: string[] = [];
    const ocr = await indexed({ ...fakeModel("ppocr-v4"), inputs: [], outputs: [] });
    const deps = {
      index: ocr.index,
      reexecutor: { run: async () => ({}) },
      spotCheck: { fraction: 1, atol: 1e-4, rtol: 1e-3 },
      onSpotCheck: (o: string) => outcomes.push(o),
    };
    const subject = {
      requestId: "r-ocr",
      agent: newAccount().address.toLowerCase(),
      input: ocrInput,
      result: ocrResult,
    };
    expect(await spotCheck(subject as never, ocr.record, deps)).toBe("unchecked");
    const python = await indexed({ ...fakeModel("py-model"), runtime: "python" } as ModelDescriptor);
    expect(await spotCheck(subject as never, python.record, { ...deps, index: python.index })).toBe(
      "unchecked",
    );
    // Not sampled: neither checked nor counted.
    expect(
      await spotCheck(subject as never, ocr.record, {
        ...deps,
        spotCheck: { ...deps.spotCheck, fraction: 0 },
      }),
    ).toBe("skipped");
    expect(outcomes).toEqual(["unchecked", "unchecked"]);
  });

  test("an OCR re-execution that reads other text fails the check and reports the agent", async () => {
    const ocr = await indexed({ ...fakeModel("ppocr-v4"), inputs: [], outputs: [] });
    const events: string[] = [];
    const pipelines: string[][] = [];
    const deps = {
      index: ocr.index,
      reexecutor: {
        run: async () => ({}),
        ocr: async (_m: ModelDescriptor, pipeline: readonly ModelDescriptor[]) => {
          pipelines.push(pipeline.map((p) => p.id));
          return [
            {
              text: "hullo",
              score: 0.99,
              box: [
                [0, 0],
                [10, 0],
                [10, 5],
                [0, 5],
              ],
            },
          ] as never;
        },
      },
      spotCheck: { fraction: 1, atol: 1e-4, rtol: 1e-3 },
      onReputationEvent: (e: { kind: string }) => events.push(e.kind),
    };
    ocr.index.upsert(await modelRecord(newAccount(), { ...fakeModel("ppocr-v4-det") }));
    const subject = {
      requestId: "r-ocr",
      agent: newAccount().address.toLowerCase(),
      input: ocrInput,
      result: ocrResult,
    };
    const refused = await spotCheck(subject as never, ocr.record, deps as never).catch((e: unknown) => e);
    expect((refused as { details: { reason: string; field: string } }).details).toEqual({
      reason: "spot_check_failed",
      field: "result.lines",
    });
    expect(events).toEqual(["spot_check_failed"]);
    // The pipeline's registered parts are handed to the re-executor, as gateways send them to agents.
    expect(pipelines).toEqual([["ppocr-v4-det"]]);
  });
});
