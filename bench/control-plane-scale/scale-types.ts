import type { Histogram } from '../prometheus-text';
import type { ChangeMeasurement, CpuSample, CpuWindow } from './convergence';
import type { EndpointMove, ScaleMeshOptions } from './mesh-generator';
import type { AdsFlavor } from './simulated-node';

/**
 * Where the worker writes an edit: the mesh file the control plane watches, or the etcd holding
 * the registrations (the moved endpoint's new key goes on the registrations' lease).
 */
export type EditTarget =
  | { readonly kind: 'file'; readonly meshFile: string }
  | { readonly kind: 'etcd'; readonly hosts: readonly string[]; readonly prefix: string; readonly leaseId: string };

/** What the runner tells the client worker (argv[2], JSON). */
export interface WorkerConfig {
  /** host:port of the control plane's ADS. */
  target: string;
  adminPort: number;
  controlPlanePid: number;
  flavor: AdsFlavor;
  clients: number;
  mesh: ScaleMeshOptions;
  edits: EditTarget;
  /** Applied cumulatively: edit k writes the mesh with moves[0..k]. */
  moves: EndpointMove[];
  /** The worker stops starting edits when the next one would not fit in this (from its start). */
  budgetMs: number;
  initialTimeoutMs: number;
  changeTimeoutMs: number;
  /** After the last client got an update, how long the control plane's CPU is still counted (ACKs, GC). */
  quietMs: number;
}

export interface CoreBusy {
  core0: number;
  core1: number;
}

/** One edit as measured, plus when it was written (epoch ms), to line up with the control plane's log. */
export interface ChangeRecord extends ChangeMeasurement {
  writtenAtEpochMs: number;
  /** How long the write itself took: the file written, or the etcd transaction committed (absent in older results). */
  writeMs?: number;
  /** The control plane's CPU counter over the edit, to split its cost into rebuild and fan-out. */
  cpuTrace: CpuSample[];
  coreBusy: CoreBusy;
  workerCpuMs: number;
}

/** What the worker prints (one JSON line on stdout). */
export interface WorkerResult {
  flavor: AdsFlavor;
  clients: number;
  initial: {
    /** Per client: ms from the moment all streams were opened to its complete initial configuration; null if never. */
    readyMs: (number | null)[];
    cpu: CpuWindow;
    coreBusy: CoreBusy;
    workerCpuMs: number;
  };
  changes: ChangeRecord[];
  /** How long after the last client each window went on (WorkerConfig.quietMs). */
  quietMs: number;
  /** Why fewer edits ran than planned. */
  stoppedEarly?: string;
  memoryKb: {
    /** VmRSS with the mesh loaded and no client connected. */
    beforeClients: number;
    /** VmRSS once every client had its configuration and things settled. */
    afterSync: number;
    afterChanges: number;
    /** VmHWM at the end: the peak since the control plane started, mesh load included. */
    peak: number;
  };
  /** meshlet_control_plane_push_latency_seconds{type="EDS"} over the edits (after − before scrape). */
  pushLatencyEds?: Histogram;
  pushLatencyError?: string;
  streamErrors: number;
  lastStreamError?: string;
  responses: number;
}
