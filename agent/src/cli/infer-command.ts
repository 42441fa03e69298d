import { basename, resolve } from "node:path";
import { setNativeLibDir } from "@ncn/runtime";
import { createLogger } from "@ncn/runtime/logger";
import { describeModel, OnnxRuntime } from "@ncn/runtime/onnx";
import { defineCommand } from "citty";
import { dataPaths } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { ConfigError } from "../errors.ts";
import { runCli } from "./errors.ts";
import { SETTING_ARGS, settingsFromArgs } from "./settings-args.ts";
import { parseCliInputs, tensorToValues } from "./tensor-json.ts";

export const inferCommand = defineCommand({
  meta: { name: "infer", description: "Run an ONNX model file once on JSON inputs and print the outputs" },
  args: {
    "model-file": { type: "string", description: "path of the .onnx file", required: true },
    input: {
      type: "string",
      description: 'inputs as JSON: {"x":{"dtype":"float32","dims":[1,4],"values":[...]}}',
    },
    "input-file": { type: "string", description: "read the inputs JSON from this file" },
    ...SETTING_ARGS,
  },
  run: ({ args }) =>
    runCli(async () => {
      const config = loadConfig(settingsFromArgs(args), process.env);
      setNativeLibDir(dataPaths(config.dataDir).native);
      const text =
        args.input ?? (args["input-file"] ? await Bun.file(resolve(args["input-file"])).text() : undefined);
      if (text === undefined) throw new ConfigError(["--input or --input-file is required"]);
      const inputs = parseCliInputs(text);
      const path = resolve(args["model-file"]);
      const file = Bun.file(path);
      if (!(await file.exists())) throw new ConfigError([`--model-file: ${path} does not exist`]);
      const bytes = await file.bytes();
      const runtime = await OnnxRuntime.create({
        executionProvider: config.executionProvider,
        threads: config.threads,
        graphOptimization: config.graphOptimization,
        maxMemoryBytes: config.maxModelMemoryBytes,
        capMemoryOnGpu: config.modelMemorySet,
        log: createLogger("agent", { level: config.logLevel === "info" ? "warn" : config.logLevel }),
      });
      try {
        const id =
          basename(path)
            .replace(/\.onnx$/, "")
            .toLowerCase()
            .replace(/[^a-z0-9._-]/g, "-")
            .slice(0, 64) || "model";
        const descriptor = await describeModel(runtime, id, bytes, [`file:${path}`]);
        const t0 = performance.now();
        const outputs = await runtime.run(descriptor, async () => bytes, inputs);
        const ms = Math.round((performance.now() - t0) * 100) / 100;
        const shown: Record<string, ReturnType<typeof tensorToValues>> = {};
        for (const [name, t] of Object.entries(outputs)) shown[name] = tensorToValues(t);
        process.stdout.write(
          `${JSON.stringify({ model: { id: descriptor.id, sha256: descriptor.sha256 }, provider: runtime.provider, ms, outputs: shown })}\n`,
        );
        return 0;
      } finally {
        await runtime.close();
      }
    }),
});
