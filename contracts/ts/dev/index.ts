// `@ncn/contracts/dev`: a local chain for tests and the devnet (anvil as a child process, the
// contracts deployed, development keys). Node and Bun only.
export * from "./anvil.ts";
export * from "./deploy.ts";
export * from "./local-chain.ts";
