import type { GasReport } from "./measure-gas.ts";

const n = (v: bigint | number) => Math.round(Number(v)).toLocaleString("en-US");

/** The gas report as a Markdown document (what contracts/GAS.md holds). */
export function gasTableMarkdown(report: GasReport, note: string): string {
  const escrow = report.escrow;
  const rows = report.batches.map(
    (b) =>
      `| ${n(b.requests)} | ${b.sessions} / ${b.nodes} | ${n(b.gas)} | **${n(b.gasPerRequest)}** | ${n(b.coldGas)} | ${n(Number(b.coldGas) / b.requests)} | ${n(Number(escrow.perRequest) / (b.gasPerRequest || 1))}x |`,
  );
  return [
    "# Gas: escrow per request vs batch settlement",
    "",
    note,
    "",
    "## Per-request escrow",
    "",
    "| step | gas |",
    "|---|---:|",
    `| initiateInferenceRequest (allowance in place) | ${n(escrow.initiate)} |`,
    `| initiateInferenceRequestWithPermit | ${n(escrow.initiateWithPermit)} |`,
    `| completeInferenceRequest (3 validator signatures) | ${n(escrow.complete)} |`,
    `| **initiate + complete, per request** | **${n(escrow.perRequest)}** |`,
    "",
    "## Sessions settled with settleBatch",
    "",
    `Opening a session costs ${n(report.openSession)} gas once (plus an approve, or use the permit variant).`,
    "",
    "| receipts in batch | sessions / nodes | settleBatch gas | gas per request | first batch gas (cold) | cold per request | escrow / batch |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    ...costModel(report),
  ].join("\n");
}

/** Fixed and per-(session, node) cost, fitted through the smallest and largest shape. */
function costModel(report: GasReport): string[] {
  const first = report.batches[0];
  const last = report.batches.at(-1);
  if (!first || !last || first === last || first.sessions !== first.nodes || last.sessions !== last.nodes)
    return [];
  const perPair = Number(last.gas - first.gas) / (last.sessions - first.sessions);
  const fixed = Number(first.gas) - perPair * first.sessions;
  return [
    `A batch costs about ${n(fixed)} gas plus ${n(perPair)} per (session, node) pair, whatever the number of`,
    "receipts (they are summarised by one Merkle root); per request that is the pair cost divided by the",
    "requests each session and node carries.",
    "",
  ];
}
