// Everything, for Node and Bun programs. Code that must also run in a Worker or a browser
// imports `@ncn/contracts/actions` (and `/abi`), which never pull in `node:` modules.
export * from "./abi/index.ts";
export * from "./actions/index.ts";
export * from "./dev/index.ts";
