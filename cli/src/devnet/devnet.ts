import { createHash } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { devKey, type LocalChain, startLocalChain } from "@ncn/contracts";
import { createNcnClient } from "@ncn/contracts/actions";
import { type GatewayHandle, startGateway } from "@ncn/edge-gateway/local";
import {
  Address,
  BaseError,
  type InferenceResponse,
  ncnDomain,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import { BUILTIN_MODELS, NCN_GLOVE, NCN_GPT, NCN_WHISPER } from "@ncn/runtime/builtin-models";
import { renderText } from "@ncn/runtime/testing/render-text";
import { tinyModelBytes, tinyModelDescriptor } from "@ncn/runtime/testing/tiny-model";
import { chainValidatorSet, NcnClient, openPaymentSession, type ReceiptVerification } from "@ncn/sdk";
import * as v from "valibot";
import { privateKeyToAccount } from "viem/accounts";
import { type DevnetFile, writeDevnetFile } from "../devnet-file.ts";
import { createApiKey } from "../keys/create-api-key.ts";
import {
  claimRecordNames,
  modelRecord,
  publishRecord,
  publishSubnet,
  signRecord,
  waitForCatalog,
} from "../records.ts";
import { type Child, Supervisor } from "./supervisor.ts";

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
const BUN = process.execPath;

/**
 * `NCN_DEVNET_CPU_PROFILE=<folder>`: the validators and agents write a CPU profile there
 * (markdown, one per process) when they stop: where a devnet's time goes, per process.
 */
function profileArgs(): string[] {
  const dir = process.env.NCN_DEVNET_CPU_PROFILE;
  return dir ? ["--cpu-prof-md", `--cpu-prof-dir=${dir}`] : [];
}
const WAD = 10n ** 18n;
/** Price per request, in NCN base units (for chat and embed: the base fee beside the per-token prices). */
export const DEVNET_PRICES = {
  ocr: 10n ** 15n,
  tiny: 10n ** 14n,
  chat: 10n ** 13n,
  embed: 10n ** 12n,
  speech: 10n ** 15n,
} as const;
/** Per-token prices of the language and embedding models, in NCN base units per token. */
export const DEVNET_TOKEN_PRICES = {
  chat: { promptToken: 10n ** 11n, completionToken: 4n * 10n ** 11n },
  embed: { promptToken: 10n ** 10n, completionToken: 0n },
} as const;
function tokenPrices(p: { promptToken: bigint; completionToken: bigint }) {
  return { promptToken: p.promptToken.toString(), completionToken: p.completionToken.toString() };
}
export const DEVNET_SUBNETS = ["ocr", "default", "chat", "embed", "speech"] as const;

export interface DevnetOptions {
  /** Folder for state, logs and devnet.json (default `<repo>/.ncn`). */
  dir?: string;
  /** Gateway port; 8787 unless taken. */
  port?: number;
  registries?: number;
  agents?: number;
  /** Progress lines go here. */
  onStep?: (label: string, detail?: string) => void;
  /** Gateway variables to set on top of the devnet's (SETTLE_RELEASE_AFTER_MS, say). */
  gatewayVars?: Record<string, string>;
}

export interface Devnet {
  /** The devnet's folder (state, logs, samples/ with images for `ncn ocr`). */
  dir: string;
  file: DevnetFile;
  chain: LocalChain;
  gateway: GatewayHandle;
  registries: { child: Child; url: string; peerId: string }[];
  agents: Child[];
  /** Agent addresses (lowercase), in the order of `agents`. */
  agentAddresses: string[];
  supervisor: Supervisor;
  client: NcnClient;
  smoke?: { response: InferenceResponse; verification: ReceiptVerification; ms: number };
  stop(): Promise<void>;
  /** Stops the gateway's workerd and starts it again on the same port and state (every Durable Object evicted). */
  restartGateway(): Promise<void>;
  /** Stops validator `i` (its registry node process); its state stays on disk. */
  stopRegistry(i: number): Promise<void>;
  /** Starts validator `i` again on the same port and data (what it attested is kept). */
  startRegistry(i: number): Promise<void>;
  /** Kills validator `i` with SIGKILL (a crash: no shutdown); `startRegistry(i)` brings it back. */
  killRegistry(i: number): Promise<void>;
  /** Kills agent `i` with SIGKILL; its tasks in flight are lost with it. */
  killAgent(i: number): Promise<void>;
  /** Starts agent `i` again with the same key and data, and waits until it is connected. */
  startAgent(i: number): Promise<void>;
  /** Kills the gateway's workerd with SIGKILL; its state folder is kept for `startGateway()`. */
  killGateway(): Promise<void>;
  /** Starts the gateway again on the same port and state after `killGateway()`. */
  startGateway(): Promise<void>;
}

const ReadyLine = v.object({
  ready: v.literal(true),
  peerId: v.string(),
  url: v.string(),
  multiaddrs: v.array(v.string()),
});

/**
 * Starts a whole network on this machine: anvil with the contracts, validator
 * registries, the gateway in workerd, compute agents, a subnet catalog and a funded
 * client session. Everything binds 127.0.0.1; `stop()` ends every process.
 */
export async function startDevnet(opts: DevnetOptions = {}): Promise<Devnet> {
  const dir = opts.dir ?? join(ROOT, ".ncn");
  const step = opts.onStep ?? (() => undefined);
  const nRegistries = opts.registries ?? 3;
  const nAgents = opts.agents ?? 2;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pidFile = join(dir, "pids.json");
  const reaped = Supervisor.reapStale(pidFile);
  if (reaped > 0) step("cleaned up", `${reaped} processes left by an earlier run`);
  for (const sub of ["registry-0", "registry-1", "registry-2", "gateway-state", "logs"]) {
    rmSync(join(dir, sub), { recursive: true, force: true });
  }
  const gatewayState = gatewayStateDir(dir);
  rmSync(gatewayState, { recursive: true, force: true });
  const swept = sweepOrphanGatewayStates();
  if (swept > 0) step("cleaned up", `${swept} gateway states in memory left by devnets that are gone`);
  if (gatewayState !== join(dir, "gateway-state")) {
    // Which devnet it belongs to, for `sweepOrphanGatewayStates` after a crash.
    mkdirSync(gatewayState, { recursive: true, mode: 0o700 });
    writeFileSync(join(gatewayState, OWNER_FILE), resolve(dir));
  }
  mkdirSync(join(dir, "logs"), { recursive: true });
  // Images to try `ncn ocr` on, with a known answer.
  mkdirSync(join(dir, "samples"), { recursive: true });
  for (const [name, lines] of Object.entries(SAMPLE_IMAGES))
    writeFileSync(join(dir, "samples", name), renderText({ lines, font: "sans", size: 32 }));
  const supervisor = new Supervisor(pidFile, `${dir}:${process.pid}`);
  supervisor.adopt();

  let chain: LocalChain | undefined;
  let gateway: GatewayHandle | undefined;
  const stop = async () => {
    await supervisor.stopAll();
    await gateway?.stop();
    await chain?.stop();
    // In memory (see `gatewayStateDir`): given back with the devnet. On disk it stays to be read.
    if (gatewayState !== join(dir, "gateway-state")) rmSync(gatewayState, { recursive: true, force: true });
  };
  try {
    const gatewayKey = devKey("gateway");
    const gatewayAddress = privateKeyToAccount(gatewayKey).address;
    const clientKey = devKey("client");
    const client = privateKeyToAccount(clientKey);
    const ownerKey = devKey("subnet-owner");
    const owner = privateKeyToAccount(ownerKey);
    const agentKeys = Array.from({ length: nAgents }, (_, i) => devKey(`agent-${i}`));

    chain = await startLocalChain({
      validators: nRegistries,
      deploy: {
        threshold: Math.min(2, nRegistries),
        maxValidators: Math.max(5, nRegistries),
        fund: [
          { address: client.address, tokens: 1_000_000n * WAD, ether: 100n * WAD },
          { address: gatewayAddress, ether: 100n * WAD },
          { address: owner.address, ether: 10n * WAD },
        ],
      },
    });
    const contracts = chain.contracts;
    const localChain = chain;
    step("chain", `anvil ${chain.anvil.url}, contracts deployed, ${nRegistries} validators staked`);

    const registries: Devnet["registries"] = [];
    const spawnRegistry = async (i: number, port: number, bootstrap: string | undefined) => {
      const args = [
        ...profileArgs(),
        join(ROOT, "registry", "src", "main.ts"),
        "--data-dir",
        join(dir, `registry-${i}`),
        "--http-port",
        String(port),
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--rpc-url",
        localChain.anvil.url,
        "--payment-contract",
        contracts.payment,
        "--validator-registry",
        contracts.registry,
        "--trusted-gateway",
        gatewayAddress,
        // Spot checks re-run the devnet's models from the folder they are published from.
        "--model-dir",
        join(dir, "models"),
      ];
      if (bootstrap) args.push("--bootstrap", bootstrap);
      const child = supervisor.spawn(`registry-${i}`, BUN, args, {
        // The key in the environment, not on the command line (where every user could read it).
        env: { NCN_VALIDATOR_KEY: localChain.validatorKeys[i] as string },
        logFile: join(dir, "logs", `registry-${i}.log`),
      });
      pipeLog(child, join(dir, "logs", `registry-${i}.log`));
      const ready = await readyOf(child);
      return { child, url: ready.url, peerId: ready.peerId };
    };
    for (let i = 0; i < nRegistries; i++) {
      const boot = registries[0];
      const bootstrap = boot ? (await readyOf(boot.child)).multiaddrs[0] : undefined;
      registries.push(await spawnRegistry(i, await freePort(), bootstrap));
    }
    step("validators", registries.map((r) => r.url).join(" "));

    // Catalog: the built-in OCR pipeline, language model, embedding model and speech
    // recogniser, and a tiny tensor model, priced per subnet (the language and embedding
    // models per token too).
    const modelsDir = join(dir, "models");
    mkdirSync(modelsDir, { recursive: true });
    const tinyPath = join(modelsDir, "tiny-mlp.onnx");
    writeFileSync(tinyPath, tinyModelBytes());
    const tiny = tinyModelDescriptor({ sources: [`file:${tinyPath}`] });
    const seq = Date.now();
    const reg0 = registries[0]?.url as string;
    const subnets = [
      { id: "ocr", name: "OCR", models: [{ id: "ppocr-v4", price: DEVNET_PRICES.ocr.toString() }] },
      {
        id: "default",
        name: "Tensor models",
        models: [{ id: tiny.id, price: DEVNET_PRICES.tiny.toString() }],
      },
      {
        id: "chat",
        name: "Chat",
        models: [
          {
            id: NCN_GPT.id,
            price: DEVNET_PRICES.chat.toString(),
            pricing: tokenPrices(DEVNET_TOKEN_PRICES.chat),
          },
        ],
      },
      {
        id: "embed",
        name: "Embeddings",
        models: [
          {
            id: NCN_GLOVE.id,
            price: DEVNET_PRICES.embed.toString(),
            pricing: tokenPrices(DEVNET_TOKEN_PRICES.embed),
          },
        ],
      },
      {
        id: "speech",
        name: "Speech to text",
        models: [{ id: NCN_WHISPER.id, price: DEVNET_PRICES.speech.toString() }],
      },
    ];
    // Registry nodes accept a subnet's or model's records only from the owner the chain names.
    await claimRecordNames(
      { rpcUrl: localChain.anvil.url, chainId: localChain.deployment.chainId, registry: contracts.registry },
      owner,
      [
        ...[...BUILTIN_MODELS, tiny].map((m) => ({ kind: "model" as const, name: m.id })),
        ...subnets.map((s) => ({ kind: "subnet" as const, name: s.id })),
      ],
    );
    for (const m of [...BUILTIN_MODELS, tiny])
      await publishRecord(reg0, await signRecord(owner, modelRecord(m, seq)));
    for (const subnet of subnets) await publishSubnet(reg0, owner, subnet, seq);
    await waitForCatalog(
      registries.map((r) => r.url),
      [...DEVNET_SUBNETS],
      [...BUILTIN_MODELS.map((m) => m.id), tiny.id],
    );
    step(
      "catalog",
      `subnets ${DEVNET_SUBNETS.join(", ")}; models ${[...BUILTIN_MODELS.map((m) => m.id), tiny.id].join(", ")}`,
    );

    const port = opts.port ?? ((await portFree(8787)) ? 8787 : await freePort());
    const gatewayVars = {
      CHAIN_ID: String(chain.deployment.chainId),
      RPC_URL: chain.anvil.url,
      PAYMENT_CONTRACT: contracts.payment,
      VALIDATOR_REGISTRY: contracts.registry,
      TOKEN_CONTRACT: contracts.token,
      REGISTRY_URLS: registries.map((r) => r.url).join(","),
      VALIDATION_THRESHOLD: String(Math.min(2, nRegistries)),
      GATEWAY_PRIVATE_KEY: gatewayKey,
      SETTLE_EVERY: "100",
      SETTLE_INTERVAL_MS: "2000",
      // Ended requests are readable for 10 minutes (see `gatewayStateDir` for where they are kept).
      REQUEST_RETENTION_MS: "600000",
      ...opts.gatewayVars,
    };
    const gatewayOpts = { persistDir: gatewayState, logFile: join(dir, "logs", "gateway.log") };
    gateway = await startGateway(gatewayVars, { ...gatewayOpts, port });
    step("gateway", `${gateway.url} (workerd)`);

    const agents: Child[] = [];
    const spawnAgent = (i: number, gatewayUrl: string): Child => {
      const child = supervisor.spawn(
        `agent-${i}`,
        BUN,
        [...profileArgs(), join(ROOT, "agent", "src", "main.ts"), "run"],
        {
          env: {
            NCN_GATEWAY: gatewayUrl,
            NCN_DATA_DIR: join(dir, `agent-${i}`),
            NCN_PRIVATE_KEY: agentKeys[i],
            NCN_SUBNETS: DEVNET_SUBNETS.join(","),
            NCN_MAX_CONCURRENCY: "64",
            NCN_MODEL_DIRS: modelsDir,
            // Every process of the devnet shares this machine: on a few cores an agent's
            // model runs take one thread each, and leave the rest to the gateway and validators.
            ...(availableParallelism() <= 4 && !process.env.NCN_THREADS ? { NCN_THREADS: "1" } : {}),
          },
        },
      );
      pipeLog(child, join(dir, "logs", `agent-${i}.log`));
      return child;
    };
    for (let i = 0; i < nAgents; i++) agents.push(spawnAgent(i, gateway.url));
    await waitForAgents(gateway.url, nAgents);
    step("agents", `${nAgents} connected to every subnet`);

    const chainConfig = { rpcUrl: chain.anvil.url, chainId: chain.deployment.chainId, contracts };
    const session = await openPaymentSession(chainConfig, client, {
      gateway: gatewayAddress,
      amount: 1000n * WAD,
      expiresInSeconds: 7 * 24 * 3600,
    });
    const sdk = new NcnClient({
      gatewayUrl: gateway.url,
      account: client,
      validatorSet: chainValidatorSet(chainConfig),
    });
    await sdk.registerSession(session.sessionId);
    // An API key on a second session, so OpenAI-compatible clients can pay without signing.
    const { apiKey } = await createApiKey(
      {
        client: createNcnClient({
          rpcUrl: chain.anvil.url,
          chainId: chain.deployment.chainId,
          account: client,
        }),
        contracts,
        gatewayUrl: gateway.url,
        gateway: v.parse(Address, gatewayAddress),
      },
      { deposit: 100n * WAD, expiresInSeconds: 7n * 24n * 3600n },
    );
    step(
      "client",
      `${client.address} funded, session ${session.sessionId.slice(0, 10)}… (1000 NCN), API key on a second session (100 NCN)`,
    );

    const file: DevnetFile = {
      gateway: { url: gateway.url, statusUrl: `${gateway.url}/v1/network` },
      registries: registries.map((r) => ({ url: r.url, peerId: r.peerId })),
      chain: {
        rpcUrl: chain.anvil.url,
        chainId: chain.deployment.chainId,
        contracts: {
          token: contracts.token,
          payment: contracts.payment,
          validatorRegistry: contracts.registry,
        } as DevnetFile["chain"]["contracts"],
      },
      client: {
        address: client.address.toLowerCase() as DevnetFile["client"]["address"],
        privateKey: clientKey,
        sessionId: session.sessionId,
        apiKey,
      },
      subnetOwner: {
        address: owner.address.toLowerCase() as DevnetFile["client"]["address"],
        privateKey: ownerKey,
      },
      subnets: [...DEVNET_SUBNETS],
      startedAt: new Date().toISOString(),
    };
    writeDevnetFile(dir, file);
    const agentAddresses = agentKeys.map((k) => privateKeyToAccount(k).address.toLowerCase());
    const devnet: Devnet = {
      dir,
      file,
      chain,
      gateway,
      registries,
      agents,
      agentAddresses,
      supervisor,
      client: sdk,
      stop,
      async restartGateway() {
        await devnet.gateway.stop();
        await devnet.startGateway();
      },
      async killGateway() {
        await devnet.gateway.kill();
      },
      async startGateway() {
        const samePort = Number(new URL(devnet.gateway.url).port);
        // The old runtime may hold the port a moment after it stopped (slow under load): retry.
        for (let attempt = 1; ; attempt++) {
          try {
            gateway = await startGateway(gatewayVars, { ...gatewayOpts, port: samePort });
            break;
          } catch (e) {
            if (attempt >= 5) throw e;
            await new Promise((r) => setTimeout(r, 500 * attempt));
          }
        }
        devnet.gateway = gateway;
      },
      async killAgent(i) {
        const child = agents[i];
        if (!child) throw new BaseError("NOT_FOUND", `no agent ${i}`);
        await supervisor.killChild(child);
      },
      async startAgent(i) {
        const child = agents[i];
        if (!child) throw new BaseError("NOT_FOUND", `no agent ${i}`);
        if (child.proc.exitCode === null && child.proc.signalCode === null) return;
        agents[i] = spawnAgent(i, devnet.gateway.url);
        await waitForAgents(devnet.gateway.url, 1, agentAddresses[i]);
      },
      async killRegistry(i) {
        const r = registries[i];
        if (!r) throw new BaseError("NOT_FOUND", `no registry ${i}`);
        await supervisor.killChild(r.child);
      },
      async stopRegistry(i) {
        const r = registries[i];
        if (!r) throw new BaseError("NOT_FOUND", `no registry ${i}`);
        await supervisor.stopChild(r.child);
      },
      async startRegistry(i) {
        const r = registries[i];
        if (!r) throw new BaseError("NOT_FOUND", `no registry ${i}`);
        if (r.child.proc.exitCode === null && r.child.proc.signalCode === null) return;
        // Any other node that runs is a bootstrap peer.
        const peer = registries.find(
          (o) => o !== r && o.child.proc.exitCode === null && o.child.proc.signalCode === null,
        );
        const bootstrap = peer ? (await readyOf(peer.child)).multiaddrs[0] : undefined;
        registries[i] = await spawnRegistry(i, Number(new URL(r.url).port), bootstrap);
      },
    };
    return devnet;
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Where the devnet's gateway keeps its Durable Objects' storage: in memory (/dev/shm, on
 * Linux with at least 1 GiB free there), or `gateway-state` in the devnet folder with
 * `NCN_DEVNET_GATEWAY_STATE=disk` or where there is no such room. Either outlives a gateway
 * restart (the chaos tests kill and restart it); neither outlives the devnet, which starts
 * from empty state every time, so the disk buys it nothing.
 * workerd's local storage is one SQLite file per object and it syncs every commit to disk:
 * a few ms a write on this machine's disk, and a request's path holds several writes in turn
 * (each object's output gate waits for its write). In memory the time to first token of a
 * streamed generation fell from 56-69 ms to 27-30 ms, and the session stream's one-at-a-time
 * latency from 8.0 to 6.3 ms p50 over direct (the disk sync, not the gateway's work, was the
 * difference: the stream's delivered journal is one more commit per batch).
 */
export function gatewayStateDir(dir: string): string {
  const onDisk = join(dir, "gateway-state");
  if (process.env.NCN_DEVNET_GATEWAY_STATE === "disk") return onDisk;
  if (process.platform !== "linux" || !existsSync("/dev/shm")) return onDisk;
  try {
    const fs = statfsSync("/dev/shm");
    if (fs.bavail * fs.bsize < 1024 ** 3) return onDisk;
  } catch {
    return onDisk;
  }
  const tag = createHash("sha256").update(resolve(dir)).digest("hex").slice(0, 16);
  return join("/dev/shm", `ncn-gateway-state-${tag}`);
}

/** In a gateway state folder in memory: the devnet folder it belongs to. */
const OWNER_FILE = "devnet-dir";

/**
 * Removes gateway states in /dev/shm whose devnet folder is gone (a test's temporary folder,
 * say, after its process was killed): memory a crashed devnet would otherwise hold until the
 * machine restarts. A state whose folder still exists is left to that devnet's next start,
 * and one without an owner file is not ours to judge. Returns how many went.
 */
export function sweepOrphanGatewayStates(root = "/dev/shm"): number {
  let swept = 0;
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => n.startsWith("ncn-gateway-state-"));
  } catch {
    return 0;
  }
  for (const name of names) {
    const owner = join(root, name, OWNER_FILE);
    try {
      if (existsSync(readFileSync(owner, "utf8").trim())) continue;
    } catch {
      continue;
    }
    rmSync(join(root, name), { recursive: true, force: true });
    swept++;
  }
  return swept;
}

/** What `<dir>/samples/` holds for `ncn ocr`, and the text each shows. */
export const SAMPLE_IMAGES: Record<string, string[]> = {
  "hello.png": ["Hello from NCN"],
  "invoice.png": ["Invoice 2026-12", "Total 42.00 NCN"],
};

/** One paid OCR request through the whole network, verified against the chain. */
export async function smokeTest(devnet: Devnet): Promise<NonNullable<Devnet["smoke"]>> {
  const image = renderText({ lines: ["NCN devnet ready"], font: "sans", size: 32 });
  const t0 = performance.now();
  const response = await devnet.client.ocr({ subnet: "ocr", image });
  const ms = performance.now() - t0;
  if (response.state !== "returned") {
    throw new BaseError(
      "INFERENCE_FAILED",
      `smoke request ended ${response.state}: ${response.error?.message ?? ""}`,
    );
  }
  const verification = await devnet.client.verifyReceipt(response);
  devnet.smoke = { response, verification, ms };
  return devnet.smoke;
}

/**
 * A ready-to-paste curl for one paid tensor request: the body carries a voucher the
 * development client signed for exactly what the session owes plus this request.
 */
export async function paidCurl(devnet: Devnet): Promise<string> {
  const sessionId = devnet.file.client.sessionId as `0x${string}`;
  const { charged } = await devnet.client.registerSession(sessionId);
  const q = await devnet.client.quote("default", "tiny-mlp");
  const amount = BigInt(charged) + BigInt(q.price);
  const account = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
  const signature = await account.signTypedData(
    typedData(ncnDomain(q.chainId, q.paymentContract as `0x${string}`), "Voucher", {
      sessionId,
      cumulativeAmount: amount,
    }),
  );
  const body = {
    requestId: `curl-${Date.now()}`,
    subnet: "default",
    model: "tiny-mlp",
    inputs: { x: tensorToJson({ dtype: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) }) },
    payment: { mode: "session", sessionId, cumulativeAmount: amount.toString(), signature },
  };
  return `curl -s -X POST ${devnet.file.gateway.url}/v1/inference -H 'content-type: application/json' -d '${JSON.stringify(body)}'`;
}

async function readyOf(child: Child, timeoutMs = 30_000): Promise<v.InferOutput<typeof ReadyLine>> {
  const cached = readyCache.get(child);
  if (cached) return cached;
  const out = child.proc.stdout;
  if (!out) throw new BaseError("INTERNAL", `${child.name} has no stdout`);
  const ready = await new Promise<v.InferOutput<typeof ReadyLine>>((resolveReady, reject) => {
    let buf = "";
    const timer = setTimeout(
      () => reject(new BaseError("UNAVAILABLE", `${child.name} was not ready in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split("\n")) {
        if (!line.startsWith("{")) continue;
        const parsed = (() => {
          try {
            return v.safeParse(ReadyLine, JSON.parse(line));
          } catch {
            return undefined;
          }
        })();
        if (parsed?.success) {
          clearTimeout(timer);
          out.off("data", onData);
          resolveReady(parsed.output);
          return;
        }
      }
    };
    out.on("data", onData);
    child.exited.then((code) => {
      clearTimeout(timer);
      reject(new BaseError("UNAVAILABLE", `${child.name} exited with code ${code} before it was ready`));
    });
  });
  readyCache.set(child, ready);
  return ready;
}
const readyCache = new WeakMap<Child, v.InferOutput<typeof ReadyLine>>();

function pipeLog(child: Child, path: string): void {
  const stream = createWriteStream(path, { flags: "a" });
  child.proc.stdout?.on("data", (d: Buffer) => stream.write(d));
  child.proc.stderr?.on("data", (d: Buffer) => stream.write(d));
  child.exited.then(() => stream.end());
}

const NetworkView = v.object({
  subnets: v.array(
    v.object({
      id: v.string(),
      agents: v.array(v.object({ address: v.string(), connected: v.boolean() })),
    }),
  ),
});

/** Waits until every devnet subnet has `n` connected agents, or the one at `address` when given. */
async function waitForAgents(
  gatewayUrl: string,
  n: number,
  address?: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = v.parse(NetworkView, await (await fetch(`${gatewayUrl}/v1/network`)).json());
      const ok = DEVNET_SUBNETS.every((id) => {
        const live = r.subnets.find((s) => s.id === id)?.agents.filter((a) => a.connected) ?? [];
        return address === undefined
          ? live.length >= n
          : live.some((a) => a.address.toLowerCase() === address);
      });
      if (ok) return;
    } catch {}
    if (Date.now() > deadline)
      throw new BaseError("UNAVAILABLE", `agents did not connect within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const s = createServer();
    s.once("error", () => resolvePort(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolvePort(true)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}
