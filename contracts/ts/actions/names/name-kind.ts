/** Namespaces of claimable names, in the order of the contract's `NameKind` enum. */
export const NameKind = { subnet: 0, model: 1 } as const;
export type NameKind = keyof typeof NameKind;

export interface NameParameters {
  kind: NameKind;
  /** The subnet or model id, exactly as in its registry record. */
  name: string;
}
