export interface CtcText {
  text: string;
  /** Mean probability of the characters kept (0 when none). */
  score: number;
}

/**
 * Greedy CTC decoding of one sequence of class probabilities [steps x classes]: the
 * best class per step, repeats collapsed, blanks (class 0) dropped.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  offset: number,
  steps: number,
  classes: number,
  charset: readonly string[],
): CtcText {
  let text = "";
  let sum = 0;
  let kept = 0;
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    const row = offset + t * classes;
    let best = 0;
    let bestP = probs[row] as number;
    for (let k = 1; k < classes; k++) {
      const p = probs[row + k] as number;
      if (p > bestP) {
        bestP = p;
        best = k;
      }
    }
    if (best !== 0 && best !== prev) {
      text += charset[best] ?? "";
      sum += bestP;
      kept++;
    }
    prev = best;
  }
  return { text, score: kept === 0 ? 0 : sum / kept };
}

/**
 * The class table of a recognition model from its dictionary file: index 0 is the CTC
 * blank, then one character per line, then a space.
 */
export function charsetFromDictionary(text: string): string[] {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines.at(-1) === "") lines.pop();
  return ["", ...lines, " "];
}
