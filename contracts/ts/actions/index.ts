// `@ncn/contracts/actions`: reads, writes and signatures over viem, with the clients and
// types they take. Nothing here imports a `node:` module, so a Worker or a browser can bundle
// it; the anvil launcher and the deployer are in `@ncn/contracts/dev`.
export * from "../client.ts";
export * from "../deployment.ts";
export * from "../errors.ts";
export * from "../signing.ts";
export * from "./credits.ts";
export * from "./escrow.ts";
export * from "./names.ts";
export * from "./read-batch-status.ts";
export * from "./read-session-salt.ts";
export * from "./session.ts";
export * from "./settlement.ts";
export * from "./token.ts";
export * from "./validators.ts";
