import { tokenOfAuthorization, verifyGatewayToken } from "@ncn/protocol";
import type { MiddlewareHandler } from "hono";
import { RegistryError } from "../errors.ts";

/** Verified tokens kept; past this many the cache starts over (a gateway has one at a time). */
const MAX_CACHED_TOKENS = 1024;

/**
 * Authenticates callers of the validation API: an `Authorization: NCN-Gateway <token>`
 * signed by a gateway in `trusted`. A token is verified once (one signature recovery) and
 * then found in a cache until it expires, so a gateway's calls cost a map lookup.
 */
export class GatewayAuthenticator {
  readonly #trusted: ReadonlySet<string>;
  readonly #verified = new Map<string, { gateway: `0x${string}`; expiresAt: number }>();
  readonly #now: () => number;

  constructor(trusted: readonly string[], now: () => number = Date.now) {
    this.#trusted = new Set(trusted.map((a) => a.toLowerCase()));
    this.#now = now;
  }

  /** The gateway an `Authorization` header proves; UNAUTHORIZED or FORBIDDEN otherwise. */
  authenticate(header: string | null | undefined): Promise<`0x${string}`> {
    return this.authenticateToken(tokenOfAuthorization(header));
  }

  /** The gateway a bare token proves (a token carried inside gossiped work). */
  async authenticateToken(token: string): Promise<`0x${string}`> {
    return (await this.#verify(token)).gateway;
  }

  /**
   * The gateway an `Authorization` header proves and when its token expires, for a
   * connection that outlives one call (the validation socket closes at that time).
   */
  authenticateUntil(
    header: string | null | undefined,
  ): Promise<{ gateway: `0x${string}`; expiresAt: number }> {
    return this.#verify(tokenOfAuthorization(header));
  }

  async #verify(token: string): Promise<{ gateway: `0x${string}`; expiresAt: number }> {
    const now = this.#now();
    const known = this.#verified.get(token);
    if (known && known.expiresAt > now) return known;
    const { gateway, expiresAt } = await verifyGatewayToken(token, now);
    if (!this.#trusted.has(gateway)) {
      throw new RegistryError("FORBIDDEN", `gateway ${gateway} is not one this validator serves`, {
        details: { reason: "gateway_not_trusted", gateway },
      });
    }
    if (this.#verified.size >= MAX_CACHED_TOKENS) this.#verified.clear();
    this.#verified.set(token, { gateway, expiresAt });
    return { gateway, expiresAt };
  }
}

/** Variables the gateway middleware sets on a request's context. */
export interface GatewayVariables {
  gateway: `0x${string}`;
}

/** Hono middleware: refuses unauthenticated callers, else sets `c.var.gateway`. */
export function requireGateway(
  auth: GatewayAuthenticator,
): MiddlewareHandler<{ Variables: GatewayVariables }> {
  return async (c, next) => {
    c.set("gateway", await auth.authenticate(c.req.header("authorization")));
    await next();
  };
}
