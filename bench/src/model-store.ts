import { join } from "node:path";
import { ModelStore, STRICT_SOURCE_POLICY } from "@ncn/runtime";

type Descriptor = Parameters<ModelStore["ensure"]>[0];

/**
 * A bench's model store (under `dir/cache`, built-in sources only), with what runtimes take:
 * `loadModel` for their constructor and `context` (the fetch into the store) for their calls.
 */
export async function benchModelStore(dir: string, maxBytes = 100 * 1024 * 1024) {
  const store = await ModelStore.open({
    dir: join(dir, "cache"),
    maxBytes,
    ttlMs: 3_600_000,
    sources: STRICT_SOURCE_POLICY,
  });
  return {
    store,
    loadModel: (m: Descriptor) => store.load(m),
    context: {
      fetchModel: async (m: Descriptor) => {
        await store.ensure(m);
      },
    },
  };
}
