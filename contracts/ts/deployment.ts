import { Address } from "@ncn/protocol";
import * as v from "valibot";

/** Addresses of a deployed NCN system, as written to and read from deployment files. */
export const NcnDeployment = v.object({
  chainId: v.pipe(v.number(), v.integer(), v.minValue(1)),
  token: Address,
  registry: Address,
  payment: Address,
  /** Governance account (admin of all three contracts). */
  admin: Address,
  /** Block of the last deployment transaction: where log scans can start. */
  blockNumber: v.pipe(v.number(), v.integer(), v.minValue(0)),
});
export type NcnDeployment = v.InferOutput<typeof NcnDeployment>;

/** The three contract addresses every action needs. */
export interface NcnContracts {
  token: `0x${string}`;
  registry: `0x${string}`;
  payment: `0x${string}`;
}

/** Parses a deployment read from a file or the environment; throws a valibot error listing every problem. */
export function parseDeployment(input: unknown): NcnDeployment {
  return v.parse(NcnDeployment, input);
}
