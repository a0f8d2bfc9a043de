import type { LoadSpec } from './load/load-result';

export const SYSTEM_NAMES = ['direct', 'meshlet', 'meshlet-2w', 'nginx', 'haproxy', 'node-http-proxy', 'fastify-reply-from', 'undici-baseline'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** How the proxies of a scenario are wired: plain, a meshlet pair with mTLS between them, or two endpoints of which one is dead. */
export type Topology = 'plain' | 'mtls' | 'retry';

export const SCENARIO_NAMES = ['closed', 'single', 'rate1000', 'rate5000', 'mtls', 'retry'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface Scenario {
  name: ScenarioName;
  title: string;
  description: string;
  topology: Topology;
  /** Systems with an equivalent configuration for this topology. */
  systems: readonly SystemName[];
  load(durationSec: number): LoadSpec;
}

/** Closed-loop concurrency; also the connection pool of the fixed-rate generator, so a stall never runs it out of connections at these rates. */
export const CLOSED_CONNECTIONS = 50;

const ALL: readonly SystemName[] = SYSTEM_NAMES;

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'closed',
    title: 'Closed loop, 50 connections',
    description: 'Each of 50 keep-alive connections sends its next request as soon as the previous answer arrives: maximum throughput.',
    topology: 'plain',
    systems: ALL,
    load: (d) => ({ mode: 'closed', connections: CLOSED_CONNECTIONS, durationSec: d }),
  },
  {
    name: 'single',
    title: 'One connection',
    description: 'One connection, one request at a time: the latency a proxy adds when unloaded. Compare p50; p99 at c=1 is mostly cross-core wake-up noise.',
    topology: 'plain',
    systems: ALL,
    load: (d) => ({ mode: 'closed', connections: 1, durationSec: d }),
  },
  {
    name: 'rate1000',
    title: 'Fixed rate, 1000 req/s',
    description: 'Open loop at 1000 req/s over up to 50 connections, latency corrected for coordinated omission.',
    topology: 'plain',
    systems: ALL,
    load: (d) => ({ mode: 'rate', rate: 1000, connections: CLOSED_CONNECTIONS, durationSec: d }),
  },
  {
    name: 'rate5000',
    title: 'Fixed rate, 5000 req/s',
    description: 'Open loop at 5000 req/s over up to 50 connections, latency corrected for coordinated omission.',
    topology: 'plain',
    systems: ALL,
    load: (d) => ({ mode: 'rate', rate: 5000, connections: CLOSED_CONNECTIONS, durationSec: d }),
  },
  {
    name: 'mtls',
    title: 'Two meshlets with mTLS, 1000 req/s',
    description:
      'client → meshlet (client side) → mTLS → meshlet (server side) → upstream, at 1000 req/s: the sidecar-to-sidecar path of a mesh. Both meshlets share core 0; their CPU and memory are summed.',
    topology: 'mtls',
    systems: ['direct', 'meshlet', 'meshlet-2w'],
    load: (d) => ({ mode: 'rate', rate: 1000, connections: CLOSED_CONNECTIONS, durationSec: d }),
  },
  {
    name: 'retry',
    title: 'One dead endpoint, retries on, 1000 req/s',
    description:
      'The cluster has the upstream and a dead endpoint (connection refused), round robin, 2 retries on connect failure and no outlier detection: half the requests need a retry. direct goes to the live upstream.',
    topology: 'retry',
    systems: ['direct', 'meshlet', 'meshlet-2w', 'nginx', 'haproxy'],
    load: (d) => ({ mode: 'rate', rate: 1000, connections: CLOSED_CONNECTIONS, durationSec: d }),
  },
];

/** The skip reason of a system that has no configuration for a scenario's topology; reports list it quietly. */
export const NOT_APPLICABLE = 'no equivalent configuration for this scenario';

export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
