import { parseCommandArgs } from '../../cli/command-args';
import { parseDuration } from '../cli-options';
import { ISSUE_8_MESH } from './mesh-generator';
import type { AdsFlavor } from './simulated-node';

export interface ScaleOptions {
  clients: number;
  services: number;
  endpointsPerService: number;
  /** Mesh file edits to time, one after the other. */
  changes: number;
  flavor: AdsFlavor;
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
  budgetSec: 180,
};

export const SCALE_HELP = `Usage: meshlet bench --control-plane-scale [options]
       node dist/bench/control-plane-scale/run.js [options]

One control plane (pinned to core 0) serving a generated mesh, and one process (core 1)
simulating many sidecars, each on its own ADS stream and connection. Times every client's
initial configuration, then edits the mesh file (one endpoint moves to another port) and times,
per client, the file write → the EDS update carrying the edit. Samples the control plane's CPU
and memory from /proc and scrapes its push-latency histogram.

Options:
  --clients N      simulated sidecars (default ${DEFAULT_SCALE_OPTIONS.clients}), node.cluster = service i mod services
  --services N     services in the mesh (default ${DEFAULT_SCALE_OPTIONS.services})
  --endpoints N    endpoints per service (default ${DEFAULT_SCALE_OPTIONS.endpointsPerService})
  --changes N      endpoint edits to time (default ${DEFAULT_SCALE_OPTIONS.changes}; fewer if the budget runs out)
  --delta          Delta (incremental) ADS instead of state of the world
  --budget D       bound on the whole run: 90s, 3m (default ${DEFAULT_SCALE_OPTIONS.budgetSec}s)
  --out DIR        where <date>-control-plane-scale.{json,md} go (default bench/results)
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
      budgetSec,
      out: values.out ?? defaultOut,
    },
  };
}
