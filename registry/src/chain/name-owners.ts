import { NAME_OWNER_CACHE_SIZE, NAME_OWNER_TTL_MS, NAME_UNCLAIMED_TTL_MS } from "../constants.ts";

/** Record kinds whose key is a name someone claims (agent and validator keys are their own address). */
export type NamedKind = "subnet" | "model";

/** Who owns subnet and model names; the real one reads `ValidatorRegistry.nameOwner`. */
export interface NameOwnerReader {
  /** Owner of the name (lowercase), or null while unclaimed. Throws `ChainReadError` when the chain cannot answer. */
  ownerOf(kind: NamedKind, name: string): Promise<`0x${string}` | null>;
}

export interface CachedNameOwnersOptions {
  ownerTtlMs?: number;
  unclaimedTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  owner: `0x${string}` | null;
  until: number;
}

/**
 * Wraps a reader with a bounded cache: the DHT checks the same record on every put and lookup,
 * and one chain read per check would make the chain the registry's ceiling. Reads of a name
 * already in flight are shared.
 */
export function cachedNameOwners(
  read: NameOwnerReader,
  options: CachedNameOwnersOptions = {},
): NameOwnerReader {
  const ownerTtl = options.ownerTtlMs ?? NAME_OWNER_TTL_MS;
  const unclaimedTtl = options.unclaimedTtlMs ?? NAME_UNCLAIMED_TTL_MS;
  const maxEntries = options.maxEntries ?? NAME_OWNER_CACHE_SIZE;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const inFlight = new Map<string, Promise<`0x${string}` | null>>();
  return {
    async ownerOf(kind, name) {
      const key = `${kind}\u0000${name}`;
      const hit = entries.get(key);
      if (hit && hit.until > now()) return hit.owner;
      const running = inFlight.get(key);
      if (running) return running;
      const reading = read
        .ownerOf(kind, name)
        .then((owner) => {
          entries.delete(key);
          if (entries.size >= maxEntries) {
            const oldest = entries.keys().next().value;
            if (oldest !== undefined) entries.delete(oldest);
          }
          entries.set(key, { owner, until: now() + (owner === null ? unclaimedTtl : ownerTtl) });
          return owner;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, reading);
      return reading;
    },
  };
}
