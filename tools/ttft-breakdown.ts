// Where a streamed generation's time to first token goes through the devnet: per request,
// when each progress event and the first token reached the client, from the call.
//   bun tools/ttft-breakdown.ts [--runs 20]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevnet } from "../cli/src/devnet/devnet.ts";

const argv = process.argv.slice(2);
const i = argv.indexOf("--runs");
const runs = i >= 0 ? Number(argv[i + 1]) : 20;
if (!Number.isInteger(runs) || runs < 1) {
  console.error("--runs takes a positive integer");
  process.exit(2);
}

const home = mkdtempSync(join(tmpdir(), "ncn-ttft-"));
const devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
try {
  const marks = new Map<string, number[]>();
  const note = (k: string, ms: number) => {
    const list = marks.get(k) ?? [];
    list.push(ms);
    marks.set(k, list);
  };
  const once = async (record: boolean) => {
    const t0 = performance.now();
    const d0 = Date.now();
    const seen = new Set<string>();
    const stream = await devnet.client.generateStream({
      subnet: "chat",
      model: "ncn-gpt",
      prompt: "The history of Egypt",
      sampling: { max_tokens: 8, temperature: 0 },
      onProgress: (e) => {
        const k = `progress ${e.state}${e.stage ? `/${e.stage}` : ""}`;
        if (!seen.has(k) && record) {
          note(k, performance.now() - t0);
          note(`${k}, stamped by the gateway`, e.at - d0);
        }
        seen.add(k);
      },
    });
    if (record) note("response opened", performance.now() - t0);
    let first = true;
    for await (const _ of stream) {
      if (first && record) note("first token", performance.now() - t0);
      first = false;
    }
    await stream.response;
    if (record) note("final", performance.now() - t0);
  };
  for (let k = 0; k < 6; k++) await once(false);
  for (let k = 0; k < runs; k++) await once(true);
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  for (const [k, xs] of [...marks].sort((a, b) => p50(a[1]) - p50(b[1])))
    console.log(`${k.padEnd(40)} p50 ${p50(xs).toFixed(1).padStart(7)} ms  (${xs.length})`);
} finally {
  await devnet.stop();
  if (process.env.NCN_KEEP_E2E) console.log(`kept ${home}`);
  else rmSync(home, { recursive: true, force: true });
}
