/**
 * Agent test helpers other workspaces reuse: a loopback gateway that speaks the agent link
 * protocol. Models for tests (the tiny model, hostile models, rendered text) are
 * `@ncn/runtime/testing`.
 */
export { type ReceivedFrame, TestGateway, type TestGatewayOptions } from "./test-gateway.ts";
