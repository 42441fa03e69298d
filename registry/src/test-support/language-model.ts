import type { LoadedCausalLm } from "@ncn/runtime/causal-lm";

/**
 * The least probable next token after `prefix` under the real model: a token no honest
 * sampler picks, what an agent editing its output or running a cheaper model would show.
 */
export async function implausibleNext(lm: LoadedCausalLm, prefix: readonly number[]): Promise<number> {
  const pass = await lm.decoder.forward(prefix, lm.decoder.emptyCache());
  const logits = pass.logitsAt(prefix.length - 1);
  let worst = 0;
  for (let i = 1; i < logits.length; i++) if ((logits[i] ?? 0) < (logits[worst] ?? 0)) worst = i;
  return worst;
}
