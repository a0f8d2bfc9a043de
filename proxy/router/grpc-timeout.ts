/** gRPC's timeout units (PROTOCOL-HTTP2.md: Hours, Minutes, Seconds, milliseconds, microseconds, nanoseconds), in ms. */
const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** A `grpc-timeout` header value (`100m`, `5S`: at most 8 digits and a unit) in ms; undefined when malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (match === null) return undefined;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/**
 * The request's timeout with the route's `max_stream_duration.grpc_timeout_header_max` (Envoy):
 * the client's grpc-timeout replaces the route timeout, capped by the max (0: uncapped) and
 * shortened by `grpc_timeout_header_offset` when it is longer than that; without the header
 * (or without the setting) the route timeout stays. Pure.
 */
export function requestTimeoutMs(routeTimeoutMs: number, headerMaxMs: number | undefined, offsetMs: number, grpcTimeout: string | undefined): number {
  if (headerMaxMs === undefined || grpcTimeout === undefined) return routeTimeoutMs;
  const requested = parseGrpcTimeout(grpcTimeout);
  if (requested === undefined) return routeTimeoutMs;
  const capped = headerMaxMs > 0 ? Math.min(requested, headerMaxMs) : requested;
  // Never 0, which would mean "no timeout": a deadline under 1 ms still ends the request.
  return Math.max(capped > offsetMs ? capped - offsetMs : capped, 1);
}
