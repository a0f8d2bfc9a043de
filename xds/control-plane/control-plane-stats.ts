import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The control plane's own metrics, on its admin port's /stats/prometheus. */
export class ControlPlaneStats {
  readonly registry = new Registry();

  /** `earliestCertificateExpiry`: of the certificates the connected nodes hold now, read at each scrape. */
  constructor(private readonly earliestCertificateExpiry: () => Date | undefined) {}

  /** Open ADS streams, by protocol (sotw / delta). */
  readonly connectedProxies = new Gauge({
    name: 'meshlet_control_plane_connected_proxies',
    help: 'ADS streams currently open, by protocol (sotw, delta)',
    labelNames: ['protocol'],
    registers: [this.registry],
  });

  readonly rejectedStreams = new Counter({
    name: 'meshlet_control_plane_rejected_streams_total',
    help: "ADS streams ended with PERMISSION_DENIED, by reason: identity_mismatch (the client certificate's SPIFFE ID is not the identity of the node.cluster claimed), no_certificate",
    labelNames: ['reason'],
    registers: [this.registry],
  });

  readonly pushes = new Counter({
    name: 'meshlet_control_plane_pushes_total',
    help: 'xDS responses sent, by resource type (SDS, CDS, EDS, LDS, RDS)',
    labelNames: ['type'],
    registers: [this.registry],
  });

  readonly nacks = new Counter({
    name: 'meshlet_control_plane_nacks_total',
    help: 'xDS responses rejected by a client (NACK), by resource type',
    labelNames: ['type'],
    registers: [this.registry],
  });

  readonly pushLatency = new Histogram({
    name: 'meshlet_control_plane_push_latency_seconds',
    help: 'From a mesh file change being detected to the resulting response being written, by resource type',
    labelNames: ['type'],
    // Up to a minute: a mesh too large for its control plane shows as a tail here, not as "> 5 s".
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly meshReloads = new Counter({
    name: 'meshlet_control_plane_mesh_reloads_total',
    help: 'Mesh file changes, by result: applied, or rejected (the last good mesh keeps being served)',
    labelNames: ['result'],
    registers: [this.registry],
  });

  readonly certificatesIssued = new Counter({
    name: 'meshlet_control_plane_certificates_issued_total',
    help: "Workload certificates issued to connected nodes, by reason: initial (the node's first for its identity and CA), rotation (renewal at half-life)",
    labelNames: ['reason'],
    registers: [this.registry],
  });

  readonly certificatesEarliestExpiry = new Gauge({
    name: 'meshlet_control_plane_certificates_earliest_expiry_timestamp_seconds',
    help: 'When the first of the certificates held by connected nodes expires (Unix time); 0 when none is held',
    registers: [this.registry],
    collect: () => {
      // Renewal at half-life keeps this far ahead; a value close to now means renewals fail.
      const expiry = this.earliestCertificateExpiry();
      this.certificatesEarliestExpiry.set(expiry === undefined ? 0 : expiry.getTime() / 1000);
    },
  });
}
