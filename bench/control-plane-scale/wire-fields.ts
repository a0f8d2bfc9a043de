import * as protobuf from 'protobufjs';

/**
 * The two top-level fields the simulated clients need from a resource, read straight off the
 * wire without decoding the message: Cluster, Listener and RouteConfiguration all have their
 * name as field 1, ClusterLoadAssignment its cluster_name, and Cluster its discovery type as
 * field 2. A SotW EDS response holds every ClusterLoadAssignment of the mesh (≈1000) and 500
 * clients get one per change: decoding them all would make the client process, not the control
 * plane, the bottleneck being measured.
 */
export interface WireSummary {
  /** Field 1 as a string; '' when absent. */
  readonly name: string;
  /** Field 2 as a varint (Cluster.type: 0 STATIC, 1 STRICT_DNS, 2 LOGICAL_DNS, 3 EDS); undefined when absent. */
  readonly field2?: number;
}

export const CLUSTER_TYPE_EDS = 3;

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;

/** @throws Error for bytes that are not a protobuf message */
export function wireSummary(bytes: Uint8Array): WireSummary {
  // new Reader rather than Reader.create: for a Buffer, create picks the BufferReader, which
  // truncates a string running past the end instead of failing (see xds/proto-binary.ts).
  const reader = new protobuf.Reader(bytes);
  let name = '';
  let field2: number | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LENGTH_DELIMITED) name = reader.string();
    else if (field === 2 && wire === WIRE_VARINT) field2 = reader.int32();
    else reader.skipType(wire);
  }
  return field2 === undefined ? { name } : { name, field2 };
}
