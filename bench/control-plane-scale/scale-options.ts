import { parseCommandArgs } from '../../cli/command-args';
import { parseDuration } from '../cli-options';
import { ISSUE_8_MESH } from './mesh-generator';
import type { AdsFlavor } from './simulated-node';

/** Where the control plane takes the mesh from: a mesh file it watches, or an etcd the bench starts. */
export type ScaleRegistry = 'file' | 'etcd';

export const SCALE_REGISTRIES: readonly ScaleRegistry[] = ['file', 'etcd'];

export interface ScaleOptions {
  clients: number;
  services: number;
  endpointsPerService: number;
  /** Mesh edits to time, one after the other. */
  changes: number;
  flavor: AdsFlavor;
  registry: ScaleRegistry;
  /** The whole run, control plane start to results written. */
  budgetSec: number;
  out: string;
}

export const DEFAULT_SCALE_OPTIONS: Omit<ScaleOptions, 'out'> = {
  clients: 500,
  services: ISSUE_8_MESH.services,
  endpointsPerService: ISSUE_8_MESH.endpointsPerService,
  changes: 5,
  flavor: 'sotw',
  registry: 'file',
  budgetSec: 180,
};

export const SCALE_HELP = `Usage: meshlet bench --control-plane-scale [options]
       node dist/bench/control-plane-scale/run.js [options]

One control plane (pinned to core 0) serving a generated mesh, and one process (core 1)
simulating many sidecars, each on its own ADS stream and connection. Times every client's
initial configuration, then edits the mesh (one endpoint moves to another port) and times,
per client, the write → the EDS update carrying the edit. Samples the control plane's CPU
and memory from /proc and scrapes its push-latency histogram.

Options:
  --clients N      simulated sidecars (default ${DEFAULT_SCALE_OPTIONS.clients}), node.cluster = service i mod services
  --services N     services in the mesh (default ${DEFAULT_SCALE_OPTIONS.services})
  --endpoints N    endpoints per service (default ${DEFAULT_SCALE_OPTIONS.endpointsPerService})
  --changes N      endpoint edits to time (default ${DEFAULT_SCALE_OPTIONS.changes}; fewer if the budget runs out)
  --delta          Delta (incremental) ADS instead of state of the world
  --registry KIND  where the mesh comes from (default file):
                   file  a mesh file, --config; an edit rewrites the file
                   etcd  --registry etcd://: the bench starts its own one-member etcd (free
                         loopback ports, a temporary data directory, core 1, killed at the
                         end), puts the mesh document there without endpoints, as
                         \`meshlet mesh apply\` does, and registers every endpoint on a lease, as
                         \`meshlet register\` does; an edit deletes the moved endpoint's key and
                         puts its new one in one transaction. Needs etcd on PATH (Debian's
                         etcd-server: bash test/setup/ensure-etcd)
  --budget D       bound on the whole run: 90s, 3m (default ${DEFAULT_SCALE_OPTIONS.budgetSec}s)
  --out DIR        where <date>-control-plane-scale.{json,md} go (default bench/results);
                   with --registry etcd, <date>-control-plane-scale-etcd.{json,md}
  --help           this text
`;

export type ParsedScaleArgs = { kind: 'help' } | { kind: 'error'; message: string } | { kind: 'run'; options: ScaleOptions };

function positiveInteger(text: string | undefined, fallback: number, flag: string): number | string {
  if (text === undefined) return fallback;
  const n = Number(text);
  return /^\d+$/.test(text) && n >= 1 ? n : `--${flag} must be a positive integer, got ${JSON.stringify(text)}`;
}

/** Pure: argv → options. */
export function parseScaleArgs(args: readonly string[], defaultOut: string): ParsedScaleArgs {
  const parsed = parseCommandArgs(args, {
    clients: { type: 'string' },
    services: { type: 'string' },
    endpoints: { type: 'string' },
    changes: { type: 'string' },
    delta: { type: 'boolean', default: false },
    registry: { type: 'string' },
    budget: { type: 'string' },
    out: { type: 'string' },
  });
  if (parsed.kind !== 'run') return parsed;
  const { values } = parsed;
  const d = DEFAULT_SCALE_OPTIONS;
  const clients = positiveInteger(values.clients, d.clients, 'clients');
  const services = positiveInteger(values.services, d.services, 'services');
  const endpointsPerService = positiveInteger(values.endpoints, d.endpointsPerService, 'endpoints');
  const changes = positiveInteger(values.changes, d.changes, 'changes');
  for (const v of [clients, services, endpointsPerService, changes]) if (typeof v === 'string') return { kind: 'error', message: v };
  const registry = values.registry ?? d.registry;
  if (!(SCALE_REGISTRIES as readonly string[]).includes(registry)) {
    return { kind: 'error', message: `--registry must be one of ${SCALE_REGISTRIES.join(', ')}, got ${JSON.stringify(values.registry)}` };
  }
  const budgetSec = values.budget === undefined ? d.budgetSec : parseDuration(values.budget);
  if (budgetSec === undefined || budgetSec < 10) return { kind: 'error', message: `--budget: need a duration of at least 10s, got ${JSON.stringify(values.budget)}` };
  return {
    kind: 'run',
    options: {
      clients: clients as number,
      services: services as number,
      endpointsPerService: endpointsPerService as number,
      changes: changes as number,
      flavor: values.delta ? 'delta' : 'sotw',
      registry: registry as ScaleRegistry,
      budgetSec,
      out: values.out ?? defaultOut,
    },
  };
}
