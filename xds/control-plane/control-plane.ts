/**
 * `meshlet control-plane`: serves ADS from a mesh registry (the mesh file, or etcd: see
 * registry/). It holds the last good mesh and its snapshots; when the registry reports a change
 * it rebuilds every role's snapshot from what the last build left (only changed resources are
 * encoded and checked again, unchanged sets stay the same objects), then lets every stream
 * compare, so only nodes whose resources changed receive a push, of what changed. A bad change
 * is logged (where, path, reason) and the last good snapshots keep being served.
 *
 * With mTLS in the mesh it is also the mesh CA: each node gets its certificate and the trust
 * bundle over SDS on its ADS stream (node-certificates.ts), for the identity of the role its
 * node.cluster claims. With `tls.clientCaPem` (--client-ca) every stream is authenticated: the
 * client certificate must chain to that CA (checked in the handshake) and its SPIFFE ID must be
 * the claimed role's identity (admit()), so a node is only ever served, and issued a certificate,
 * as whom its certificate says it is. Without it, only trusted proxies may reach the ADS port.
 */
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { createCertificateAuthority, type CertificateAuthority } from '../../certs/certificate-authority';
import type { WorkloadCertificate } from '../../certs/workload-certificate';
import type { ConfigIssue } from '../config-error';
import type { AdsConnection } from './ads-connection';
import { startAdsServer, type AdsHost, type AdsServer, type AdsServerTls } from './ads-server';
import { startAdminServer, type AdminServer } from './admin-server';
import { ControlPlaneStats } from './control-plane-stats';
import { loadGatewayCertificates } from './gateway-certificates';
import { certificateIssuer, loadCaDir, type CertificateIssuer } from './mesh-ca';
import type { MeshConfig } from './mesh-config';
import { parseMeshText, readMeshFile } from './mesh-file';
import { MeshBuildCache, buildMeshSnapshots } from './mesh-snapshots';
import { issuesOf, type MeshRegistry } from './registry/mesh-registry';
import { NodeCertificates, type IssueReason } from './node-certificates';
import { roleOf, roleSpiffeId } from './node-role';
import { redactedSecret } from './secret-resources';
import { SECRET, type XdsResourceType } from '../xds-resource-types';
import { RESOURCE_TYPES } from './resource-types';
import type { ResourceSet, Snapshot } from './snapshot';

export interface ControlPlaneOptions {
  /** Where the mesh lives: `new FileRegistry(file)` or `new EtcdRegistry(...)`. */
  readonly registry: MeshRegistry;
  /** Where ADS and admin listen. */
  readonly address: string;
  /** 0 picks a free port (see `port`). */
  readonly port: number;
  readonly adminPort?: number;
  /** ADS over TLS (--tls-cert, --tls-key); with clientCaPem (--client-ca), mutual TLS and identity checks. Plaintext when absent. */
  readonly tls?: AdsServerTls;
  readonly log: Logger;
}

/** A mesh, validated, with its CA and the snapshot of every node role. */
export interface LoadedMesh {
  readonly mesh: MeshConfig;
  /** From mtls.ca_dir; undefined when the mesh names none. */
  readonly ca: CertificateAuthority | undefined;
  readonly snapshots: ReadonlyMap<string, Snapshot>;
  /** Of the mesh as parsed, so it says the same whichever registry it came from. */
  readonly digest: string;
  readonly loadedAt: Date;
}

export class ControlPlane implements AdsHost {
  private readonly certificates = new NodeCertificates<AdsConnection>({
    issued: (connection, certificate, reason) => this.certificateIssued(connection, certificate, reason),
    failed: (connection, spiffeId, err) => this.options.log.error({ ...this.nodeFields(connection), spiffe_id: spiffeId, err: err.message }, 'mTLS: cannot issue the node its certificate; retrying'),
    due: (connection) => connection.push(),
  });
  readonly stats = new ControlPlaneStats(() => this.certificates.earliestExpiry());
  private readonly connections = new Set<AdsConnection>();
  private ads: AdsServer | undefined;
  private admin: AdminServer | undefined;
  /** The CA this process made, for meshes without a ca_dir: kept across reloads, so certificates stay trusted. */
  private ownCa: CertificateAuthority | undefined;
  /** Undefined when the mesh has no mTLS. */
  private issuer: CertificateIssuer | undefined;

  private constructor(
    private readonly options: ControlPlaneOptions,
    private served: LoadedMesh,
    /** So a rebuild redoes only what the change touched. */
    private readonly buildCache: MeshBuildCache,
  ) {
    this.issuer = this.issuerFor(served);
  }

  /**
   * Reads the mesh from the registry, then serves ADS (and admin, when a port is given) and
   * follows the registry's changes.
   * @throws ConfigError when the mesh is invalid: nothing is started
   */
  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const { registry } = options;
    // The registry calls back only after start() resolves, and `plane` is set right then.
    let plane: ControlPlane | undefined;
    const initial = await registry.start(
      (mesh, changedAt) => plane?.reload(mesh, changedAt),
      (issues) => plane?.rejected(issues),
    );
    try {
      const buildCache = new MeshBuildCache();
      plane = new ControlPlane(options, loadedMesh(initial, registry.baseDir, buildCache), buildCache);
      plane.ads = await startAdsServer(plane, options.address, options.port, options.tls);
      if (options.adminPort !== undefined) plane.admin = await startAdminServer(plane.adminSource(), options.address, options.adminPort);
    } catch (err) {
      await (plane?.stop() ?? registry.close());
      throw err;
    }
    const { mesh, snapshots } = plane.served;
    options.log.info(
      { ...registry.origin, port: plane.port, admin_port: plane.adminPort, transport: transportOf(options.tls), services: mesh.services.length, gateways: mesh.gateways.length, roles: snapshots.size },
      'control plane serving ADS',
    );
    return plane;
  }

  get port(): number {
    return this.ads?.port ?? 0;
  }

  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  async stop(): Promise<void> {
    await this.options.registry.close();
    this.ads?.close();
    this.certificates.forgetAll();
    await this.admin?.close();
  }

  /**
   * Serves a new mesh from the registry (`changedAt`: when the change was noticed, for push
   * latency), once its CA, gateway certificates and snapshots are built. If they cannot be, it
   * is rejected like an invalid mesh: logged and counted, and the last good one stays.
   */
  private reload(mesh: MeshConfig, changedAt: number): void {
    let served: LoadedMesh;
    let issuer: CertificateIssuer | undefined;
    try {
      served = loadedMesh(mesh, this.options.registry.baseDir, this.buildCache);
      issuer = this.issuerFor(served);
    } catch (err) {
      this.rejected(issuesOf(err));
      return;
    }
    this.served = served;
    this.issuer = issuer;
    this.stats.meshReloads.inc({ result: 'applied' });
    const endpoints = mesh.services.reduce((sum, s) => sum + s.endpoints.length, 0);
    this.options.log.info({ ...this.options.registry.origin, services: mesh.services.length, gateways: mesh.gateways.length, endpoints }, 'mesh reloaded');
    for (const connection of this.connections) {
      // The claimed role's identity may have changed with the mesh (namespace, service_account).
      const denied = this.admit(connection);
      if (denied === undefined) connection.push(changedAt);
      else connection.deny(denied);
    }
  }

  private rejected(issues: readonly ConfigIssue[]): void {
    this.stats.meshReloads.inc({ result: 'rejected' });
    for (const issue of issues) {
      this.options.log.error({ ...this.options.registry.origin, path: issue.path, reason: issue.message }, 'mesh change rejected; still serving the last good mesh');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // AdsHost: what the ADS streams report

  resourcesFor(connection: AdsConnection, type: XdsResourceType): ResourceSet {
    const role = roleOf(this.served.mesh, connection.node!.cluster);
    const { resources } = this.served.snapshots.get(role.key)!;
    if (type !== SECRET) return resources[type.api];
    // A late request on a closed stream must not leave a certificate (and its renewal timer) behind.
    if (!this.connections.has(connection)) return new Map();
    // The role's own secrets (a TLS gateway's certificates), and the node's, issued for it alone.
    const issued = this.certificates.secrets(connection, this.issuer, roleSpiffeId(role));
    return resources.SDS.size === 0 ? issued : new Map([...resources.SDS, ...issued]);
  }

  /**
   * With client authentication, the client certificate's SPIFFE ID must be the identity of the role
   * node.cluster claims: a service's sidecar (or a gateway) is served only to its own identity. A
   * node of no role (a proxyless client) has no identity to match and gets no certificate: any
   * certificate of the client CA will do.
   */
  admit(connection: AdsConnection): string | undefined {
    if (this.options.tls?.clientCaPem === undefined) return undefined;
    const claimed = connection.node!.cluster;
    const expected = roleSpiffeId(roleOf(this.served.mesh, claimed));
    const presented = connection.peer?.uriSans ?? [];
    let reason: 'no_certificate' | 'identity_mismatch' | undefined;
    if (connection.peer === undefined) reason = 'no_certificate';
    else if (expected !== undefined && !presented.includes(expected)) reason = 'identity_mismatch';
    if (reason === undefined) return undefined;
    this.stats.rejectedStreams.inc({ reason });
    const shown = presented.length > 0 ? presented.join(', ') : 'no SPIFFE ID';
    this.options.log.warn(
      { ...this.nodeFields(connection), reason, presented_spiffe_ids: presented, expected_spiffe_id: expected },
      `ADS stream refused: node.cluster "${claimed}" claims ${expected ?? 'a role'}, but its client certificate is ${shown}`,
    );
    return reason === 'no_certificate'
      ? 'a client certificate is required'
      : `node.cluster "${claimed}" is served to ${expected} only; the client certificate is ${shown}`;
  }

  opened(connection: AdsConnection): void {
    this.connections.add(connection);
    this.stats.connectedProxies.inc({ protocol: connection.protocol.name });
  }

  closed(connection: AdsConnection): void {
    if (!this.connections.delete(connection)) return;
    this.certificates.forget(connection);
    this.stats.connectedProxies.dec({ protocol: connection.protocol.name });
    this.options.log.info({ ...this.nodeFields(connection), protocol: connection.protocol.name }, 'ADS stream closed');
  }

  responded(connection: AdsConnection, type: XdsResourceType, changedAt: number | undefined): void {
    this.stats.pushes.inc({ type: type.api });
    if (changedAt !== undefined) this.stats.pushLatency.observe({ type: type.api }, (performance.now() - changedAt) / 1000);
    this.options.log.debug({ ...this.nodeFields(connection), type: type.api }, 'xDS response sent');
  }

  nacked(connection: AdsConnection, type: XdsResourceType, fields: Record<string, unknown>): void {
    this.stats.nacks.inc({ type: type.api });
    this.options.log.warn({ ...this.nodeFields(connection), type: type.api, ...fields }, 'NACK: the node rejected a response');
  }

  unsupportedType(connection: AdsConnection, typeUrl: string): void {
    this.options.log.warn({ ...this.nodeFields(connection), type_url: typeUrl }, 'request for a resource type this control plane does not serve; ignored');
  }

  failed(connection: AdsConnection, err: Error): void {
    this.options.log.error({ ...this.nodeFields(connection), err: err.message }, 'ADS stream failed');
  }

  private certificateIssued(connection: AdsConnection, certificate: WorkloadCertificate, reason: IssueReason): void {
    this.stats.certificatesIssued.inc({ reason });
    const fields = { ...this.nodeFields(connection), spiffe_id: certificate.spiffeId, not_after: certificate.notAfter.toISOString(), reason };
    this.options.log.info(fields, 'mTLS: certificate issued');
  }

  /**
   * The mesh's CA when any service has mTLS: its ca_dir's, else this process's own, made on
   * first need (again if the trust domain changes).
   */
  private issuerFor({ mesh, ca }: LoadedMesh): CertificateIssuer | undefined {
    if (!mesh.mtls.enabled) return undefined;
    return certificateIssuer(ca ?? this.ownAuthority(mesh.mtls.trustDomain), mesh.mtls.certTtlMs);
  }

  private ownAuthority(trustDomain: string): CertificateAuthority {
    if (this.ownCa?.trustDomain !== trustDomain) {
      this.ownCa = createCertificateAuthority({ trustDomain });
      this.options.log.warn(
        { trust_domain: trustDomain },
        "mTLS: the mesh file has no mtls.ca_dir, so this control plane made a CA in memory: proxies will trust only this process's CA, which a restart replaces (control plane replicas must share a ca_dir)",
      );
    }
    return this.ownCa;
  }

  private nodeFields(connection: AdsConnection): Record<string, unknown> {
    const node = connection.node;
    return { node_id: node?.id, node_cluster: node?.cluster, role: node && roleOf(this.served.mesh, node.cluster).key };
  }

  // ---------------------------------------------------------------------------------------------
  // Admin

  private adminSource() {
    return {
      ready: () => this.served.snapshots.size > 0,
      metrics: async () => ({ contentType: this.stats.registry.contentType, body: await this.stats.registry.metrics() }),
      configDump: () => this.configDump(),
    };
  }

  /** The node's certificate as /config_dump shows it: never its key. */
  private certificateFields(connection: AdsConnection): Record<string, unknown> {
    const certificate = this.certificates.certificateOf(connection);
    return certificate === undefined
      ? {}
      : { certificate: { spiffe_id: certificate.spiffeId, not_before: certificate.notBefore.toISOString(), not_after: certificate.notAfter.toISOString() } };
  }

  /** Every role's snapshot as proto3 JSON, who is connected with what subscriptions, and their certificates. */
  configDump(): unknown {
    const { snapshots, digest, loadedAt } = this.served;
    return {
      mesh_source: this.options.registry.source,
      mesh_digest: digest,
      loaded_at: loadedAt.toISOString(),
      snapshots: Object.fromEntries(
        [...snapshots].map(([role, snapshot]) => [
          role,
          {
            version: snapshot.version,
            ...Object.fromEntries(
              RESOURCE_TYPES.map((type) => [
                type.api,
                [...snapshot.resources[type.api].values()].map((r) => ({
                  name: r.name,
                  version: r.version,
                  ...(r.onDemand && { on_demand: true }),
                  resource: { '@type': type.typeUrl, ...(type === SECRET ? redactedSecret(r.json) : r.json) },
                })),
              ]),
            ),
          },
        ]),
      ),
      nodes: [...this.connections].map((c) => ({ ...this.nodeFields(c), protocol: c.protocol.name, types: c.describe(), ...this.certificateFields(c) })),
    };
  }
}

function transportOf(tls: AdsServerTls | undefined): string {
  if (tls === undefined) return 'plaintext';
  return tls.clientCaPem === undefined ? 'tls' : 'mtls';
}

/** @throws ConfigError for an unreadable or invalid mesh file, or a ca_dir or gateway certificate that does not load */
export function loadMesh(file: string): LoadedMesh {
  return loadedMesh(parseMeshText(readMeshFile(file).text), dirname(file));
}

/**
 * A validated mesh with what it names on disk (its CA, gateway certificates: relative to
 * `baseDir`) and its snapshots, which are checked with the proxy's parsers.
 * @throws ConfigError when any of it does not load or validate
 */
export function loadedMesh(mesh: MeshConfig, baseDir: string, cache?: MeshBuildCache): LoadedMesh {
  const ca = loadCaDir(mesh.mtls, baseDir);
  const snapshots = buildMeshSnapshots(mesh, loadGatewayCertificates(mesh.gateways, baseDir), cache);
  const digest = createHash('sha256').update(JSON.stringify(mesh)).digest('hex');
  return { mesh, ca, snapshots, digest, loadedAt: new Date() };
}
