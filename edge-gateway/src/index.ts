import { app } from "./app.ts";

export { RequestObject } from "./objects/request.ts";
export { SessionObject } from "./objects/session.ts";
export { SettlementObject } from "./objects/settlement.ts";
export { SubnetShard } from "./objects/subnet-shard.ts";

export default app;
