import { getHeapStatistics } from 'node:v8';
import { DEFAULT_HEAP_SHED_THRESHOLD, type OverloadConfig } from './overload-config';

/**
 * Envoy's overload manager, for this process: it admits or refuses new downstream connections
 * (global_downstream_max_connections) and new requests (heap pressure, and meshlet's
 * --max-active-requests), so that overload is answered with a cheap 503 or a closed connection
 * rather than with memory exhaustion. The admin listener is not subject to it.
 */
export class OverloadManager {
  connections = 0;
  activeRequests = 0;
  /** stop_accepting_requests engaged (heap pressure). */
  private shedRequests = false;
  private refuseConnections = false;
  private readonly timer: NodeJS.Timeout;
  private readonly heapLimitBytes: number;
  private readonly shedThreshold: number;
  private readonly refuseConnectionsThreshold: number | undefined;

  constructor(
    private readonly config: OverloadConfig | undefined,
    private readonly maxActiveRequests: number | undefined,
  ) {
    this.heapLimitBytes = config?.maxHeapBytes ?? getHeapStatistics().heap_size_limit;
    this.shedThreshold = config?.actions['envoy.overload_actions.stop_accepting_requests'] ?? (config?.maxHeapBytes === undefined ? DEFAULT_HEAP_SHED_THRESHOLD : Infinity);
    this.refuseConnectionsThreshold = config?.actions['envoy.overload_actions.stop_accepting_connections'];
    this.timer = setInterval(() => this.refresh(), config?.refreshIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** The heap's fill, 0..1, as the fixed_heap monitor reports it. */
  get heapPressure(): number {
    return process.memoryUsage().heapUsed / this.heapLimitBytes;
  }

  /** Whether a new connection may be kept; it counts as one until `connectionClosed`. */
  admitConnection(): boolean {
    const max = this.config?.maxConnections;
    if (this.refuseConnections || (max !== undefined && this.connections >= max)) return false;
    this.connections++;
    return true;
  }

  connectionClosed(): void {
    this.connections--;
  }

  /** A new request: counted as active until `requestDone` (refused ones too); whether it may go on. */
  requestStarted(): boolean {
    this.activeRequests++;
    return !this.shedRequests && (this.maxActiveRequests === undefined || this.activeRequests <= this.maxActiveRequests);
  }

  requestDone(): void {
    this.activeRequests--;
  }

  /** What /stats/prometheus shows: whether each action is engaged. */
  get state(): { readonly shedRequests: boolean; readonly refuseConnections: boolean } {
    return { shedRequests: this.shedRequests, refuseConnections: this.refuseConnections };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private refresh(): void {
    const pressure = this.heapPressure;
    this.shedRequests = pressure >= this.shedThreshold;
    this.refuseConnections = this.refuseConnectionsThreshold !== undefined && pressure >= this.refuseConnectionsThreshold;
  }
}
