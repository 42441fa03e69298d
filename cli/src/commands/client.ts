import { writeFileSync } from "node:fs";
import {
  BaseError,
  InferenceResponse,
  parseJson,
  parseOrThrow,
  TensorInputMapJson,
  tensorMapFromJson,
} from "@ncn/protocol";
import { chainValidatorSet, NcnClient } from "@ncn/sdk";
import { defineCommand } from "citty";
import { privateKeyToAccount } from "viem/accounts";
import { loadDevnetFile } from "../devnet-file.ts";
import { readInputFile } from "../files.ts";
import { endProgress, fail, output, progressPrinter } from "../output.ts";

/** A client for the devnet in this checkout, paying from the development account's session. */
async function devnetClient(
  gateway?: string,
): Promise<{ client: NcnClient; chain: ReturnType<typeof chainConfig> }> {
  const file = loadDevnetFile();
  const chain = chainConfig(file);
  const client = new NcnClient({
    gatewayUrl: gateway ?? file.gateway.url,
    account: privateKeyToAccount(file.client.privateKey as `0x${string}`),
    validatorSet: chainValidatorSet(chain),
  });
  if (!file.client.sessionId) throw new BaseError("NOT_FOUND", "the devnet file has no client session");
  await client.registerSession(file.client.sessionId as `0x${string}`);
  return { client, chain };
}

function chainConfig(file: ReturnType<typeof loadDevnetFile>) {
  return {
    rpcUrl: file.chain.rpcUrl,
    chainId: file.chain.chainId,
    contracts: {
      token: file.chain.contracts.token,
      payment: file.chain.contracts.payment,
      registry: file.chain.contracts.validatorRegistry,
    },
  };
}

const common = {
  json: { type: "boolean", description: "Print JSON" },
  gateway: { type: "string", description: "Gateway URL (default: the devnet's)" },
  subnet: { type: "string", description: "Subnet id" },
} as const;

export const ocrCommand = defineCommand({
  meta: {
    name: "ocr",
    description: "Recognise the text in an image (PNG or JPEG), paid from the devnet session",
  },
  args: {
    file: { type: "positional", description: "Image file", required: true },
    ...common,
    out: { type: "string", description: "Also write the full response to this file" },
  },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const image = new Uint8Array(readInputFile(args.file, "image"));
      const { client } = await devnetClient(args.gateway);
      const t0 = performance.now();
      const onProgress = progressPrinter(json);
      const response = await client.ocr({
        subnet: args.subnet ?? "ocr",
        image,
        ...(onProgress ? { onProgress } : {}),
      });
      endProgress(json);
      const ms = performance.now() - t0;
      const verification = await client.verifyReceipt(response);
      if (args.out) writeFileSync(args.out, `${JSON.stringify(response, null, 2)}\n`);
      const lines = response.result?.kind === "ocr" ? response.result.lines : [];
      output(
        json,
        {
          lines,
          receipt: response.receipt,
          attestations: response.attestations,
          verification,
          requestId: response.requestId,
          ms: Math.round(ms),
        },
        () =>
          [
            ...lines.map((l) => `${l.text}    (${l.score.toFixed(3)})`),
            "",
            `request ${response.requestId} in ${ms.toFixed(0)} ms; receipt by ${verification.agent}: ${verification.ok ? "verified" : `NOT verified: ${verification.problems.join("; ")}`}`,
          ].join("\n"),
      );
      if (!verification.ok) process.exitCode = 1;
    } catch (e) {
      fail(e, json);
    }
  },
});

export const inferCommand = defineCommand({
  meta: {
    name: "infer",
    description:
      "Run a registered ONNX model on tensors given as JSON ({ name: { dtype, dims, data(base64) } } or { name: { dtype, dims, values: [...] } })",
  },
  args: {
    model: { type: "string", description: "Model id", required: true },
    input: { type: "string", description: "Inputs as JSON, or @file.json", required: true },
    ...common,
  },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const text = args.input.startsWith("@")
        ? readInputFile(args.input.slice(1), "input file").toString("utf8")
        : args.input;
      const inputs = parseOrThrow(TensorInputMapJson, parseJson(text, "--input"), "--input");
      const { client } = await devnetClient(args.gateway);
      const onProgress = progressPrinter(json);
      const { response, outputs } = await client.infer({
        subnet: args.subnet ?? "default",
        model: args.model,
        inputs: tensorMapFromJson(inputs),
        ...(onProgress ? { onProgress } : {}),
      });
      endProgress(json);
      const verification = await client.verifyReceipt(response);
      const shown = Object.fromEntries(
        Object.entries(outputs).map(([k, t]) => [
          k,
          { dtype: t.dtype, dims: t.dims, values: Array.from(t.data as ArrayLike<number>, Number) },
        ]),
      );
      output(
        json,
        { outputs: shown, receipt: response.receipt, verification, requestId: response.requestId },
        () =>
          `${JSON.stringify(shown)}\nreceipt: ${verification.ok ? "verified" : `NOT verified: ${verification.problems.join("; ")}`}`,
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

export const receiptCommand = defineCommand({
  meta: { name: "receipt", description: "Receipts" },
  subCommands: {
    verify: defineCommand({
      meta: {
        name: "verify",
        description: "Verify a saved response's receipt against the validator set on chain",
      },
      args: {
        file: {
          type: "positional",
          required: true,
          description: "A JSON response (e.g. from `ncn ocr --out`)",
        },
        json: { type: "boolean", description: "Print JSON" },
      },
      async run({ args }) {
        const json = Boolean(args.json);
        try {
          const response = parseOrThrow(
            InferenceResponse,
            parseJson(readInputFile(args.file).toString("utf8"), args.file),
            args.file,
          );
          const file = loadDevnetFile();
          const { verifyReceipt } = await import("@ncn/sdk");
          const { ncnDomain } = await import("@ncn/protocol");
          const v = await verifyReceipt(
            response,
            await chainValidatorSet(chainConfig(file))(),
            ncnDomain(file.chain.chainId, file.chain.contracts.payment),
          );
          output(json, v, () =>
            v.ok
              ? `receipt verified: agent ${v.agent}, ${v.completionAttestors.length} of ${v.threshold} validators`
              : `NOT verified: ${v.problems.join("; ")}`,
          );
          if (!v.ok) process.exitCode = 1;
        } catch (e) {
          fail(e, json);
        }
      },
    }),
  },
});
