import { Registrar } from "@ncn/agent/registrar";
import { TestAgentPeer } from "@ncn/edge-gateway/testing/agent-client";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

/**
 * For tests: a stand-in agent connected to the gateway in `subnet` and listed by the
 * validators like any agent, so only what it answers (`peer.onTask`) gives it away. Stop the
 * registrar when done.
 */
export async function listedTestPeer(
  gatewayUrl: string,
  registries: string[],
  subnet: string,
): Promise<{ peer: TestAgentPeer; registrar: Registrar }> {
  const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
  await peer.connect(gatewayUrl, subnet);
  await peer.waitFor((f) => f.type === "welcome");
  const registrar = new Registrar({
    account: peer.account,
    subnets: [subnet],
    capabilities: () => ({
      cores: 1,
      memoryMb: 1024,
      gpu: null,
      runtimes: ["onnx"],
      cachedModels: [],
      maxConcurrency: 2,
      version: "test",
    }),
    load: () => ({ running: 0, queued: 0 }),
    gateway: gatewayUrl,
  });
  await registrar.use(registries);
  return { peer, registrar };
}
