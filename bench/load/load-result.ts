import type { LatencyPercentiles } from '../percentiles';

/** What load to offer: a closed loop (each connection sends the next request when the last answer arrives) or a fixed rate. */
export interface LoadSpec {
  mode: 'closed' | 'rate';
  connections: number;
  /** Requests per second over all connections; rate mode only. */
  rate?: number;
  durationSec: number;
}

export type GeneratorName = 'wrk' | 'loadgen';

/** What one load run measured; latencies in microseconds. */
export interface LoadResult {
  generator: GeneratorName;
  spec: LoadSpec;
  /** Responses received, whatever their status. */
  requests: number;
  non2xx: number;
  /** Connect, read, write and timeout errors. */
  socketErrors: number;
  durationSec: number;
  rps: number;
  latencyUs: LatencyPercentiles & { mean: number; max: number };
  /** Rate mode: latency from the request's slot in the ideal schedule (the wrk2 definition). */
  latencyFromIntendedUs?: LatencyPercentiles;
  /** Rate mode: how late the generator's own timer released requests; large values mean the generator, not the proxy, fell behind. */
  dispatchLagUs?: LatencyPercentiles;
}
