import { ModelId, ProtocolError, parseOrThrow, type TokenPrices, UintString } from "@ncn/protocol";

/** A model entry of a subnet record, as `ncn subnet create --model` names it. */
export interface SubnetModelArg {
  id: string;
  price: string;
  pricing?: TokenPrices;
}

/**
 * Reads `--model`: comma-separated `model-id=price` (per request), or
 * `model-id=base:promptToken:completionToken` for a model priced per token (a base fee per
 * request plus a price per prompt token and per completion token), all in NCN base units.
 * Throws `INVALID_INPUT` naming the first bad part.
 *
 * @example parseSubnetModels("ncn-gpt=1000:2:5,tiny-mlp=300")
 */
export function parseSubnetModels(arg: string): SubnetModelArg[] {
  return arg.split(",").map((pair) => {
    const [m, prices, ...rest] = pair.split("=");
    const id = parseOrThrow(ModelId, m, "--model id");
    const parts = (prices ?? "").split(":");
    if (rest.length > 0 || (parts.length !== 1 && parts.length !== 3)) {
      throw new ProtocolError(
        "INVALID_INPUT",
        `invalid --model ${id}: write id=price or id=base:promptToken:completionToken`,
      );
    }
    const [base, promptToken, completionToken] = parts;
    const price = parseOrThrow(UintString, base, `--model ${id} price`);
    if (promptToken === undefined || completionToken === undefined) return { id, price };
    return {
      id,
      price,
      pricing: {
        promptToken: parseOrThrow(UintString, promptToken, `--model ${id} prompt-token price`),
        completionToken: parseOrThrow(UintString, completionToken, `--model ${id} completion-token price`),
      },
    };
  });
}
