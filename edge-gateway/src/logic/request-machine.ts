import type { RequestState } from "@ncn/protocol";

/** Allowed transitions of a request; `failed` and `cancelled` are reachable from any live state. */
const NEXT: Record<RequestState, readonly RequestState[]> = {
  received: ["payment_checked"],
  payment_checked: ["preprocess_validated", "reserved"],
  preprocess_validated: ["reserved", "dispatched"],
  reserved: ["preprocess_validated", "dispatched", "reserved"],
  dispatched: ["preprocess_validated", "result_signed", "reserved"],
  result_signed: ["completion_validated"],
  completion_validated: ["settled"],
  settled: ["returned"],
  returned: [],
  failed: [],
  cancelled: [],
};

const TERMINAL: ReadonlySet<RequestState> = new Set(["returned", "failed", "cancelled"]);

export function isTerminal(s: RequestState): boolean {
  return TERMINAL.has(s);
}

/** May a request move from `from` to `to`? */
export function canTransition(from: RequestState, to: RequestState): boolean {
  if (isTerminal(from)) return false;
  if (to === "failed" || to === "cancelled") return true;
  return NEXT[from].includes(to);
}
