/**
 * The registry node that answered last is asked first next time (per isolate). A node that
 * stops answering without closing its connections (a frozen process, a black-holed route)
 * then costs one timeout, not one on every catalog or admission refresh while it is listed
 * first. A plain string, never a promise: safe to share between requests of a Worker.
 */
let answered: string | undefined;

/** `urls` with the node that answered last first, the rest in their configured order. */
export function inAnswerOrder(urls: readonly string[]): string[] {
  if (answered === undefined || !urls.includes(answered)) return [...urls];
  return [answered, ...urls.filter((u) => u !== answered)];
}

/** `url` answered: ask it first from now on. */
export function registryAnswered(url: string): void {
  answered = url;
}
