// TEMPORARY stand-in until the field tables land (branch decode).
export type TableKind = "parameters" | "calculations" | "visibilities";
export const TABLE_KINDS: readonly TableKind[] = ["parameters", "calculations", "visibilities"];
