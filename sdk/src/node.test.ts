import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  digestOf,
  idToBytes32,
  ncnDomain,
  receiptMessage,
  receiptStructHash,
  typedData,
} from "@ncn/protocol";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

/** The SDK bundled for Node (as `npm run build -w @ncn/sdk` does) verifies a receipt under plain Node. */
test("the SDK runs under Node: a bundled build verifies a receipt offline", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ncn-sdk-node-"));
  try {
    const out = await Bun.build({
      entrypoints: [resolve(import.meta.dirname, "index.ts")],
      outdir: dir,
      target: "node",
      format: "esm",
    });
    expect(out.success).toBe(true);
    const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
    const agent = privateKeyToAccount(generatePrivateKey());
    const validators = [privateKeyToAccount(generatePrivateKey()), privateKeyToAccount(generatePrivateKey())];
    const receipt = {
      requestId: idToBytes32("r1"),
      subnetId: idToBytes32("default"),
      modelId: idToBytes32("tiny-mlp"),
      modelHash: idToBytes32("h"),
      inputHash: idToBytes32("i"),
      outputHash: idToBytes32("o"),
      agent: agent.address.toLowerCase(),
      price: "1",
      startedAt: 1,
      finishedAt: 2,
    } as const;
    const signature = await agent.signTypedData(
      typedData(domain, "InferenceReceipt", receiptMessage(receipt as never)),
    );
    const att = {
      requestId: receipt.requestId,
      phase: 1 as const,
      subject: receiptStructHash(receipt as never),
      outputHash: receipt.outputHash,
    };
    const attestations = await Promise.all(
      validators.map(async (v) => ({
        validator: v.address.toLowerCase(),
        phase: 1,
        subject: att.subject,
        outputHash: att.outputHash,
        signature: await v.sign({ hash: digestOf(domain, "Attestation", att) }),
      })),
    );
    const script = join(dir, "check.mjs");
    writeFileSync(
      script,
      `import { verifyReceipt } from "./index.js";
const r = await verifyReceipt(${JSON.stringify({ receipt: { receipt, signature }, attestations })},
  { validators: ${JSON.stringify(validators.map((v) => v.address.toLowerCase()))}, threshold: 2 }, ${JSON.stringify(domain)});
console.log(JSON.stringify({ ok: r.ok, attestors: r.completionAttestors.length }));`,
    );
    const r = spawnSync("node", [script], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, attestors: 2 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
