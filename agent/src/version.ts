import pkg from "../package.json" with { type: "json" };

/** The agent's version, from its package manifest (baked into the executable). */
export const AGENT_VERSION: string = pkg.version;
