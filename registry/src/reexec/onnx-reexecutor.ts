import { join } from "node:path";
import type { SourcePolicy } from "@ncn/agent";
import type { ModelDescriptor, Tensor } from "@ncn/protocol";
import { MODEL_CACHE_BYTES, MODEL_CACHE_TTL_MS } from "../constants.ts";
import type { Reexecutor } from "./reexecutor.ts";

export interface OnnxReexecutor extends Reexecutor {
  close(): Promise<void>;
}

/**
 * Re-executes models with the compute agent's own code: its content-addressed model store
 * (fetch by source, sha256 check) and its onnxruntime session pool, so a validator runs a
 * model exactly the way agents do. Loaded on first use: nodes that never spot-check do not
 * load onnxruntime. Model sources are fetched under the agent's source policy, strict
 * unless `sources` says otherwise (tests serving models from a local folder).
 *
 * @example const rx = lazyOnnxReexecutor(join(dataDir, "models")); await rx.run(model, inputs);
 */
export function lazyOnnxReexecutor(cacheDir: string, sources?: SourcePolicy): OnnxReexecutor {
  let ready:
    | Promise<{
        run: (model: ModelDescriptor, inputs: Record<string, Tensor>) => Promise<Record<string, Tensor>>;
        close: () => Promise<void>;
      }>
    | undefined;
  const load = () => {
    ready ??= (async () => {
      const [{ ModelStore }, { OnnxRuntime }] = await Promise.all([
        import("@ncn/agent"),
        import("@ncn/agent/onnx"),
      ]);
      const store = await ModelStore.open({
        dir: join(cacheDir),
        maxBytes: MODEL_CACHE_BYTES,
        ttlMs: MODEL_CACHE_TTL_MS,
        ...(sources ? { sources } : {}),
      });
      const runtime = await OnnxRuntime.create({ executionProvider: "auto", poolSize: 4 });
      return {
        run: (model: ModelDescriptor, inputs: Record<string, Tensor>) =>
          runtime.run(model, () => store.load(model), inputs),
        close: () => runtime.close(),
      };
    })();
    return ready;
  };
  return {
    run: async (model, inputs) => (await load()).run(model, inputs),
    close: async () => {
      if (ready) await (await ready).close();
    },
  };
}
