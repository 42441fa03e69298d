import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { resolve } from "node:path";
import {
  Address,
  BaseError,
  ModelDescriptor,
  parseJson,
  parseOrThrow,
  SubnetId,
  TensorSpec,
  toBaseError,
} from "@ncn/protocol";
import { EXECUTABLE_RUNTIMES, isExecutableRuntime } from "@ncn/runtime";
import { assertSelfContained } from "@ncn/runtime/external-data";
import { createLogger } from "@ncn/runtime/logger";
import { describeModel, OnnxRuntime } from "@ncn/runtime/onnx";
import { defineCommand } from "citty";
import cliProgress from "cli-progress";
import * as v from "valibot";
import { createPublicClient, http, type LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { getChainId } from "viem/actions";
import { findDevnetFile, loadDevnetFile, nameChainOf } from "../devnet-file.ts";
import { fileError } from "../files.ts";
import { fail, output } from "../output.ts";
import { claimRecordNames, modelRecord, publishRecord, signRecord, subnetRecord } from "../records.ts";
import { parseSubnetModels } from "./subnet-models.ts";

const target = {
  registry: { type: "string", description: "Registry node URL (default: the devnet's first)" },
  json: { type: "boolean", description: "Print JSON" },
} as const;

/** Where a publishing command claims its name first (registry nodes on a chain require the claim). */
const claimTarget = {
  "rpc-url": { type: "string", description: "Chain RPC URL (default: NCN_RPC_URL or the devnet's)" },
  "validator-registry": {
    type: "string",
    description:
      "ValidatorRegistry address holding name claims (default: NCN_VALIDATOR_REGISTRY or the devnet's)",
  },
} as const;

/**
 * Claims the name on chain for `account` when a chain is known (flags, environment, or the
 * devnet file); without one the record is published unclaimed, for networks without a chain.
 */
async function claimFirst(
  args: { "rpc-url"?: string | undefined; "validator-registry"?: string | undefined },
  account: LocalAccount,
  name: { kind: "subnet" | "model"; name: string },
): Promise<void> {
  const rpcUrl = args["rpc-url"] ?? process.env.NCN_RPC_URL;
  const registry = args["validator-registry"] ?? process.env.NCN_VALIDATOR_REGISTRY;
  if (rpcUrl === undefined && registry === undefined) {
    const file = findDevnetFile();
    if (file) await claimRecordNames(nameChainOf(loadDevnetFile(file)), account, [name]);
    return;
  }
  if (rpcUrl === undefined || registry === undefined) {
    throw new BaseError(
      "INVALID_INPUT",
      "--rpc-url and --validator-registry go together: give both or neither",
    );
  }
  const address = parseOrThrow(Address, registry.toLowerCase(), "--validator-registry");
  let chainId: number;
  try {
    chainId = await getChainId(createPublicClient({ transport: http(rpcUrl) }));
  } catch (e) {
    throw new BaseError("CHAIN_ERROR", `cannot reach the chain at ${rpcUrl}`, { cause: e });
  }
  await claimRecordNames({ rpcUrl, chainId, registry: address }, account, [name]);
}

function registryUrl(given: string | undefined): string {
  if (given) return given.replace(/\/$/, "");
  const url = loadDevnetFile().registries[0]?.url;
  if (!url) throw new BaseError("NOT_FOUND", "no registry URL: pass --registry");
  return url;
}

function ownerKey(given: string | undefined): `0x${string}` {
  const key =
    given ??
    process.env.NCN_OWNER_KEY ??
    (findDevnetFile() ? loadDevnetFile().subnetOwner?.privateKey : undefined);
  if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new BaseError("INVALID_INPUT", "a signing key is needed: --key 0x... or NCN_OWNER_KEY");
  }
  return key as `0x${string}`;
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok)
    throw new BaseError(
      res.status === 404 ? "NOT_FOUND" : "UNAVAILABLE",
      `${url} answered HTTP ${res.status}`,
      { details: body },
    );
  return body;
}

/** A subnet may list only models the registry knows: every request to another would fail. */
async function assertModelsRegistered(registry: string, ids: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const id of ids) {
    const res = await fetch(`${registry}/v1/models/${encodeURIComponent(id)}`);
    if (res.status === 404) missing.push(id);
    else if (!res.ok)
      throw new BaseError("UNAVAILABLE", `${registry} answered HTTP ${res.status} for model ${id}`);
  }
  if (missing.length > 0) {
    throw new BaseError(
      "MODEL_NOT_FOUND",
      `not registered: ${missing.join(", ")}; register each first (ncn model register <file> --id <id>), nothing was published`,
      { details: { models: missing } },
    );
  }
}

const Listed = v.array(v.object({ key: v.string(), seq: v.number(), body: v.unknown() }));
const SubnetList = v.object({ subnets: Listed });
const ModelList = v.object({ models: Listed });

const subnet = defineCommand({
  meta: { name: "subnet", description: "Create, list and show subnets" },
  subCommands: {
    create: defineCommand({
      meta: {
        name: "create",
        description: "Publish a subnet record (signed by its owner) with its models and prices",
      },
      args: {
        id: { type: "string", required: true, description: "Subnet id (a-z, 0-9, '.', '_', '-')" },
        name: { type: "string", required: true, description: "Display name" },
        model: {
          type: "string",
          required: true,
          description:
            "model-id=price per request, or model-id=base:promptToken:completionToken for a generate or embed model priced per token (NCN base units), comma-separated for several",
        },
        key: { type: "string", description: "Owner's private key (default: NCN_OWNER_KEY or the devnet's)" },
        ...target,
        ...claimTarget,
      },
      async run({ args }) {
        const json = Boolean(args.json);
        try {
          const id = parseOrThrow(SubnetId, args.id, "--id");
          const models = parseSubnetModels(args.model);
          await assertModelsRegistered(
            registryUrl(args.registry),
            models.map((m) => m.id),
          );
          const account = privateKeyToAccount(ownerKey(args.key));
          await claimFirst(args, account, { kind: "subnet", name: id });
          const record = await signRecord(
            account,
            subnetRecord(account.address, { id, name: args.name, models }, Date.now()),
          );
          await publishRecord(registryUrl(args.registry), record);
          output(
            json,
            record,
            () => `subnet ${id} published with ${models.length} model(s), seq ${record.seq}`,
          );
        } catch (e) {
          fail(e, json);
        }
      },
    }),
    list: defineCommand({
      meta: { name: "list", description: "List subnets" },
      args: target,
      async run({ args }) {
        const json = Boolean(args.json);
        try {
          const r = v.parse(SubnetList, await getJson(`${registryUrl(args.registry)}/v1/subnets`));
          output(
            json,
            r,
            () => r.subnets.map((s) => `${s.key}  (seq ${s.seq})`).join("\n") || "(no subnets)",
          );
        } catch (e) {
          fail(e, json);
        }
      },
    }),
    show: defineCommand({
      meta: { name: "show", description: "Show one subnet" },
      args: { id: { type: "positional", required: true, description: "Subnet id" }, ...target },
      async run({ args }) {
        const json = Boolean(args.json);
        try {
          const r = await getJson(`${registryUrl(args.registry)}/v1/subnets/${encodeURIComponent(args.id)}`);
          output(json, r, () => JSON.stringify(r, null, 2));
        } catch (e) {
          fail(e, json);
        }
      },
    }),
  },
});

/** sha256 of a file, with a progress bar for large files on a terminal. */
export async function hashFile(
  path: string,
  showProgress: boolean,
): Promise<{ sha256: `0x${string}`; size: number }> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw fileError(e, path, "model file");
  }
  const bar =
    showProgress && size > 8 * 1024 * 1024 && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { format: "hashing [{bar}] {percentage}% {value}/{total} bytes", stream: process.stderr },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(size, 0);
  const h = createHash("sha256");
  let done = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    bar?.update(done);
  }
  bar?.stop();
  return { sha256: `0x${h.digest("hex")}`, size };
}

/**
 * The inputs and outputs an ONNX file declares, read by onnxruntime on the CPU. A file that
 * is not ONNX, or keeps tensor data outside itself (agents would read files a path in it
 * names), is refused before anything is published.
 */
async function onnxSignature(
  path: string,
  id: string,
): Promise<{ inputs: TensorSpec[]; outputs: TensorSpec[] }> {
  const bytes = await Bun.file(path).bytes();
  try {
    assertSelfContained(bytes, id);
  } catch (e) {
    const err = toBaseError(e);
    // A file that is not a model at all is named as such, not by the parser's complaint.
    if (!looksLikeOnnx(bytes)) throw notOnnx(path, e);
    throw err;
  }
  const runtime = await OnnxRuntime.create({
    executionProvider: "cpu",
    log: createLogger("cli", { level: "error" }),
  });
  try {
    const d = await describeModel(runtime, id, bytes, [`file:${path}`]);
    return { inputs: d.inputs, outputs: d.outputs };
  } catch (e) {
    throw notOnnx(path, e);
  } finally {
    await runtime.close();
  }
}

function notOnnx(path: string, cause: unknown): BaseError {
  return new BaseError(
    "INVALID_INPUT",
    `${path} is not an ONNX model onnxruntime can load (${toBaseError(cause).shortMessage}); nothing was registered`,
    { cause },
  );
}

/** An ONNX ModelProto starts with field 1 (ir_version, a varint): byte 0x08. */
function looksLikeOnnx(bytes: Uint8Array): boolean {
  return bytes.byteLength > 16 && bytes[0] === 0x08;
}

const model = defineCommand({
  meta: { name: "model", description: "Register and list models" },
  subCommands: {
    register: defineCommand({
      meta: { name: "register", description: "Hash a model file and publish its signed record" },
      args: {
        file: { type: "positional", required: true, description: "The model file (ONNX)" },
        id: { type: "string", required: true, description: "Model id" },
        source: {
          type: "string",
          description: "Where agents fetch it (file:, http(s):, npm:); default file:<absolute path>",
        },
        inputs: { type: "string", description: "Input signature as JSON: [{ name, dtype, dims }]" },
        outputs: { type: "string", description: "Output signature as JSON: [{ name, dtype, dims }]" },
        runtime: {
          type: "string",
          description: `Model runtime: ${EXECUTABLE_RUNTIMES.join(", ")} (default onnx); agents run no other`,
        },
        key: { type: "string", description: "Owner's private key (default: NCN_OWNER_KEY or the devnet's)" },
        ...target,
        ...claimTarget,
      },
      async run({ args }) {
        const json = Boolean(args.json);
        try {
          const path = resolve(args.file);
          const runtime = args.runtime ?? "onnx";
          if (!isExecutableRuntime(runtime)) {
            throw new BaseError(
              "INVALID_INPUT",
              `--runtime ${runtime} is not run by agents: use one of ${EXECUTABLE_RUNTIMES.join(", ")}`,
            );
          }
          // Refused here as agents and validators would refuse it: a model that keeps tensor
          // data outside itself would have them read files a path in it names.
          const { sha256, size } = await hashFile(path, !json);
          const specs = v.array(TensorSpec);
          // The file's own signature, read by onnxruntime (which also proves it is ONNX);
          // --inputs and --outputs only override it.
          const read = runtime === "onnx" ? await onnxSignature(path, args.id) : { inputs: [], outputs: [] };
          const source = args.source ?? `file:${path}`;
          const descriptor = parseOrThrow(
            ModelDescriptor,
            {
              id: args.id,
              sha256,
              size,
              runtime,
              sources: [source],
              inputs: args.inputs
                ? parseOrThrow(specs, parseJson(args.inputs, "--inputs"), "--inputs")
                : read.inputs,
              outputs: args.outputs
                ? parseOrThrow(specs, parseJson(args.outputs, "--outputs"), "--outputs")
                : read.outputs,
            },
            "model",
          );
          if (source.startsWith("file:") && !json)
            process.stderr.write(
              `note: ${source} reaches only agents on this machine that list its folder (--model-dir); agents elsewhere need an https: or npm: source (--source)\n`,
            );
          const account = privateKeyToAccount(ownerKey(args.key));
          await claimFirst(args, account, { kind: "model", name: descriptor.id });
          const record = await signRecord(account, modelRecord(descriptor, Date.now()));
          await publishRecord(registryUrl(args.registry), record);
          output(
            json,
            descriptor,
            () => `model ${descriptor.id} registered: sha256 ${sha256}, ${size} bytes`,
          );
        } catch (e) {
          fail(e, json);
        }
      },
    }),
    list: defineCommand({
      meta: { name: "list", description: "List registered models" },
      args: target,
      async run({ args }) {
        const json = Boolean(args.json);
        try {
          const r = v.parse(ModelList, await getJson(`${registryUrl(args.registry)}/v1/models`));
          output(json, r, () => r.models.map((m) => `${m.key}  (seq ${m.seq})`).join("\n") || "(no models)");
        } catch (e) {
          fail(e, json);
        }
      },
    }),
  },
});

export { model as modelCommand, subnet as subnetCommand };
