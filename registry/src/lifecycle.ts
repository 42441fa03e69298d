import type { Startable } from "@libp2p/interface";

/**
 * Starts services one after another, in order (each may use those before it). When one
 * fails, those already started are stopped in reverse order and the error is thrown.
 *
 * @example await startInOrder([libp2p, gossip, api])
 */
export async function startInOrder(services: readonly Startable[]): Promise<void> {
  const started: Startable[] = [];
  try {
    for (const service of services) {
      await service.start();
      started.push(service);
    }
  } catch (e) {
    await stopInReverse(started);
    throw e;
  }
}

/**
 * Stops services in the reverse of their start order, each after the one started after it;
 * every one is stopped even when another fails, and the first failure is thrown at the end.
 *
 * @example await stopInReverse([libp2p, gossip, api]) // api, gossip, then libp2p
 */
export async function stopInReverse(services: readonly Startable[]): Promise<void> {
  let failure: { error: unknown } | undefined;
  for (const service of [...services].reverse()) {
    try {
      await service.stop();
    } catch (e) {
      failure ??= { error: e };
    }
  }
  if (failure) throw failure.error;
}
