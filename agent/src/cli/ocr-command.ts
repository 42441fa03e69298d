import { resolve } from "node:path";
import {
  createProgressReporter,
  ModelStore,
  OcrPipeline,
  PPOCR_V4,
  resolveOcrModels,
  setNativeLibDir,
} from "@ncn/runtime";
import { createLogger } from "@ncn/runtime/logger";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import { defineCommand } from "citty";
import { dataPaths } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { ConfigError } from "../errors.ts";
import { runCli } from "./errors.ts";
import { SETTING_ARGS, settingsFromArgs } from "./settings-args.ts";

export const ocrCommand = defineCommand({
  meta: { name: "ocr", description: "Read the text of a PNG or JPEG with the built-in OCR pipeline" },
  args: {
    image: { type: "positional", description: "image file", required: true },
    json: { type: "boolean", description: "print lines with boxes, scores and stage timings as JSON" },
    ...SETTING_ARGS,
  },
  run: ({ args }) =>
    runCli(async () => {
      const config = loadConfig(settingsFromArgs(args), process.env);
      const paths = dataPaths(config.dataDir);
      setNativeLibDir(paths.native);
      const file = Bun.file(resolve(args.image));
      if (!(await file.exists())) throw new ConfigError([`${args.image} does not exist`]);
      const log = createLogger("agent", { level: config.logLevel === "info" ? "warn" : config.logLevel });
      const store = await ModelStore.open({
        dir: paths.models,
        maxBytes: config.cacheMaxBytes,
        ttlMs: config.cacheTtlMs,
        sources: config.sources,
        maxModelBytes: config.maxModelBytes,
        log,
        onProgress: createProgressReporter({ log }),
      });
      const runtime = await OnnxRuntime.create({
        executionProvider: config.executionProvider,
        threads: config.threads,
        graphOptimization: config.graphOptimization,
        maxMemoryBytes: config.maxModelMemoryBytes,
        capMemoryOnGpu: config.modelMemorySet,
        log,
      });
      try {
        const models = await resolveOcrModels(PPOCR_V4, [], (m) => store.load(m));
        const ocr = new OcrPipeline({ runtime, loadModel: (m) => store.load(m) });
        const run = await ocr.run(models, await file.bytes());
        if (args.json) {
          const timings = Object.fromEntries(
            Object.entries(run.timings).map(([k, ms]) => [k, Math.round(ms * 10) / 10]),
          );
          process.stdout.write(
            `${JSON.stringify({ width: run.width, height: run.height, lines: run.lines, timings })}\n`,
          );
        } else {
          process.stdout.write(run.lines.map((l) => `${l.text}\n`).join(""));
        }
        return 0;
      } finally {
        await store.close();
        await runtime.close();
      }
    }),
});
