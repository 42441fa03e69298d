import { join, relative } from "node:path";
import { defineCommand } from "citty";
import { paidCurl, smokeTest, startDevnet } from "../devnet/devnet.ts";
import { bigintReplacer, fail } from "../output.ts";

export const devnetCommand = defineCommand({
  meta: {
    name: "devnet",
    description: "Start a whole local network: chain, validators, gateway, agents, models",
  },
  args: {
    smoke: {
      type: "boolean",
      description: "Start, run one paid OCR request, print the result as JSON and stop",
    },
    port: { type: "string", description: "Gateway port (default 8787, or a free one if taken)" },
    json: { type: "boolean", description: "Machine-readable output" },
  },
  async run({ args }) {
    const json = Boolean(args.json || args.smoke);
    const t0 = performance.now();
    const say = (label: string, detail = "") => {
      const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(5);
      process.stderr.write(`[${s}s] ✔ ${label}${detail ? `  ${detail}` : ""}\n`);
    };
    process.stderr.write("Starting the NCN devnet (everything on 127.0.0.1)...\n");
    let devnet: Awaited<ReturnType<typeof startDevnet>> | undefined;
    let stopping = false;
    const shutdown = async (code: number) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write("\nStopping the devnet...\n");
      await devnet?.stop();
      process.exit(code);
    };
    process.on("SIGINT", () => void shutdown(130));
    process.on("SIGTERM", () => void shutdown(143));
    try {
      devnet = await startDevnet({ ...(args.port ? { port: Number(args.port) } : {}), onStep: say });
      const smoke = await smokeTest(devnet);
      say(
        "smoke",
        `paid OCR request in ${smoke.ms.toFixed(0)} ms, receipt ${smoke.verification.ok ? "verified" : "NOT verified"}`,
      );
      if (args.smoke) {
        const out = {
          ok: smoke.verification.ok,
          readyMs: Math.round(performance.now() - t0),
          gateway: devnet.file.gateway.url,
          requestId: smoke.response.requestId,
          lines: smoke.response.result?.kind === "ocr" ? smoke.response.result.lines.map((l) => l.text) : [],
          verification: smoke.verification,
          receipt: smoke.response.receipt,
        };
        process.stdout.write(`${JSON.stringify(out, bigintReplacer, 2)}\n`);
        await shutdown(smoke.verification.ok ? 0 : 1);
        return;
      }
      const url = devnet.file.gateway.url;
      const curl = await paidCurl(devnet);
      const lines =
        smoke.response.result?.kind === "ocr" ? smoke.response.result.lines.map((l) => l.text) : [];
      process.stdout.write(
        [
          "",
          `NCN devnet ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
          "",
          `  gateway      ${url}`,
          `  status       ${url}/v1/network`,
          `  validators   ${devnet.file.registries.map((r) => r.url).join("  ")}`,
          `  chain        ${devnet.file.chain.rpcUrl} (chain id ${devnet.file.chain.chainId})`,
          `  client       ${devnet.file.client.address} (funded, session open)`,
          `  state        .ncn/devnet.json`,
          "",
          `Smoke request ${smoke.response.requestId}: ${JSON.stringify(lines)}`,
          `  agent ${smoke.verification.agent}, signature ${smoke.verification.agentSignatureValid ? "valid" : "INVALID"}, ${smoke.verification.completionAttestors.length} of ${smoke.verification.threshold} validator attestations verified on chain`,
          "",
          "Try it (a paid request: the voucher in the body is signed for it):",
          `  ${curl}`,
          "",
          `  curl -s "${url}/v1/quote?subnet=ocr&model=ppocr-v4"`,
          `  curl -s ${url}/v1/network`,
          `  npx ncn ocr ${relative(process.cwd(), join(devnet.dir, "samples", "invoice.png"))}   (or any PNG or JPEG)`,
          "",
          "OpenAI-compatible (chat, streaming, embeddings; the key pays from its session):",
          `  curl -s ${url}/v1/chat/completions -H "authorization: Bearer ${devnet.file.client.apiKey ?? "ncn-…"}" \\`,
          `    -H 'content-type: application/json' -d '{"model":"ncn-gpt","messages":[{"role":"user","content":"Tell me of Egypt."}]}'`,
          '  import OpenAI from "openai";',
          `  const openai = new OpenAI({ baseURL: "${url}/v1", apiKey: "${devnet.file.client.apiKey ?? "ncn-…"}" });`,
          '  const r = await openai.chat.completions.create({ model: "ncn-gpt", messages: [{ role: "user", content: "Hello" }] });',
          "",
          "From code (Bun or Node):",
          '  import { NcnClient } from "@ncn/sdk";',
          `  const client = new NcnClient({ gatewayUrl: "${url}", account, sessionId });`,
          '  const res = await client.ocr({ subnet: "ocr", image: await Bun.file("scan.png").bytes() });',
          "",
          "Press Ctrl-C to stop every process.",
          "",
        ].join("\n"),
      );
      await new Promise(() => undefined);
    } catch (e) {
      fail(e, json);
      await shutdown(1);
    }
  },
});
