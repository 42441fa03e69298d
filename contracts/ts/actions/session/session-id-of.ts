import { type Address, encodeAbiParameters, type Hex, keccak256 } from "viem";

/** Session id: keccak256(abi.encode(client, gateway, salt)), the same as InferencePayment.sessionIdOf. */
export function sessionIdOf(client: Address, gateway: Address, salt: Hex): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "address" }, { type: "address" }, { type: "bytes32" }],
      [client, gateway, salt],
    ),
  );
}
