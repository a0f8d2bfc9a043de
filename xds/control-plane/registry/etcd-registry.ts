/**
 * The mesh in etcd (`meshlet control-plane --registry etcd://HOST:PORT[,...]`): control plane
 * replicas serve one mesh, and instances register their own endpoints.
 *
 * Key layout, under a prefix (--prefix, default /meshlet; etcd-keys.ts):
 *
 *   <prefix>/mesh
 *       The mesh document: the mesh file's format (YAML or JSON, examples/mesh.yaml), endpoints
 *       optional. Written by `meshlet mesh apply`, which validates it first; every control plane
 *       validates it again when it reads it: an invalid value is logged with its path and the
 *       last good document stays.
 *   <prefix>/endpoints/<service>/<address>:<port>
 *       One registered endpoint: JSON {address, port, weight?, zone?, region?, version?,
 *       priority?}, attached to its instance's lease (`meshlet register`, etcd-registration.ts),
 *       so it goes when the instance deregisters, or stops renewing its lease and the TTL passes.
 *
 * A service's endpoints are the document's (static) ones and the registered ones
 * (registered-endpoints.ts). A route may name a version that no endpoint has yet: its cluster
 * is empty until an instance of that version registers.
 *
 * No change is missed: the whole prefix is read once, then watched from the revision after that
 * read. A broken watch resumes on any member from the last revision it delivered (etcd3 does
 * that; see `resumeFrom`); if etcd can no longer replay from there (the history was compacted
 * during a long outage), the prefix is read again whole. Changes are debounced into one new
 * MeshConfig, and the snapshots push only what changed, to the nodes it concerns.
 */
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { MeshConfig } from '../mesh-config';
import { parseMeshText } from '../mesh-file';
import { parseMesh, type MeshParseOptions } from '../mesh-parser';
import { changeDebouncer, type ChangeDebouncer } from './change-debouncer';
import { etcdClient, type EtcdAccess } from './etcd-client';
import { meshKey, registryPrefix } from './etcd-keys';
import { issuesOf, type MeshRegistry, type OnInvalid, type OnMesh } from './mesh-registry';
import { meshWithRegistrations } from './registered-endpoints';

export interface EtcdRegistryOptions {
  /** The members' client URLs, `http://HOST:PORT` (`https://` with TLS). */
  readonly hosts: readonly string[];
  readonly access?: EtcdAccess;
  readonly prefix: string;
  readonly log: Logger;
}

export const ETCD_PARSE_OPTIONS: MeshParseOptions = { endpointsRegistered: true };

/** Changes settle this long before the mesh is recomputed: a few registrations in a row make one push. */
const DEBOUNCE_MS = 50;
const RESYNC_BACKOFF = { initialMs: 100, maxMs: 2000 };

export class EtcdRegistry implements MeshRegistry {
  readonly source: string;
  readonly origin: Readonly<Record<string, string>>;
  /** No file to be relative to: mtls.ca_dir and gateway certificates are found from the control plane's working directory. */
  readonly baseDir = process.cwd();
  private readonly client: Etcd3;
  private readonly debouncer: ChangeDebouncer;
  private readonly log: Logger;
  private readonly prefix: string;
  private readonly key: string;
  /** Every key under the prefix with its value, as of `revision`. */
  private entries = new Map<string, string>();
  private revision = 0;
  private watcher: Watcher | undefined;
  private disconnected = false;
  /** The last good document. */
  private document: MeshConfig = parseMesh({ services: {} });
  /** The document text last read, good or bad (undefined: none stored): each value is handled once. */
  private documentText: string | undefined;
  /** The mesh last handed out, as JSON: a change that changes nothing (a bad document, a same-value put) is not reported. */
  private reportedMesh = '';
  /** Keys already logged as ignored, with why: each is logged once per reason. */
  private ignored: ReadonlyMap<string, string> = new Map();
  private onMesh: OnMesh | undefined;
  private onInvalid: OnInvalid | undefined;
  private closed = false;

  constructor(options: EtcdRegistryOptions) {
    this.prefix = options.prefix;
    this.key = meshKey(options.prefix);
    this.log = options.log;
    const registry = `etcd://${options.hosts.map((h) => h.replace(/^https?:\/\//, '')).join(',')}`;
    this.source = `${registry}${this.key}`;
    this.origin = { registry, key: this.key };
    this.client = etcdClient(options.hosts, options.access);
    this.debouncer = changeDebouncer(DEBOUNCE_MS, (changedAt) => this.settled(changedAt));
  }

  async start(onMesh: OnMesh, onInvalid: OnInvalid): Promise<MeshConfig> {
    try {
      await this.read();
      this.documentText = this.entries.get(this.key);
      if (this.documentText === undefined) {
        this.log.warn(this.origin, 'no mesh document in etcd yet: serving an empty mesh until `meshlet mesh apply` writes one');
      } else {
        this.document = parseMeshText(this.documentText, ETCD_PARSE_OPTIONS);
      }
      const mesh = this.currentMesh();
      this.reportedMesh = JSON.stringify(mesh);
      await this.watch();
      this.onMesh = onMesh;
      this.onInvalid = onInvalid;
      return mesh;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.debouncer.cancel();
    const watcher = this.dropWatcher();
    // A cancel waits for etcd's answer, which a broken connection never brings.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([watcher?.cancel().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
    this.client.close();
  }

  /** Reads every key under the prefix, and the revision they are as of. */
  private async read(): Promise<void> {
    let response;
    try {
      response = await this.client.getAll().prefix(registryPrefix(this.prefix)).exec();
    } catch (err) {
      throw new Error(`cannot read the mesh from ${this.origin.registry}: ${(err as Error).message}`);
    }
    this.entries = new Map(response.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
    this.revision = Number(response.header.revision);
  }

  /** Watches the prefix from the revision after the one `entries` is as of. */
  private async watch(): Promise<void> {
    const watcher = await this.client
      .watch()
      .prefix(registryPrefix(this.prefix))
      .startRevision(String(this.revision + 1))
      .create();
    this.watcher = watcher;
    watcher
      .on('put', (kv: IKeyValue) => this.changed(kv.key.toString(), kv.value.toString()))
      .on('delete', (kv: IKeyValue) => this.changed(kv.key.toString(), undefined))
      .on('data', (response: IWatchResponse) => (this.revision = Number(response.header.revision)))
      .on('connected', () => this.resumeFrom(watcher))
      .on('disconnected', (err: Error) => {
        if (!this.disconnected) this.log.warn({ ...this.origin, err: err.message }, 'etcd watch disconnected: serving the last mesh while reconnecting');
        this.disconnected = true;
      })
      // etcd canceled the watch: mostly, the revision to resume from was compacted away.
      .on('error', (err: Error) => void this.resync(err));
  }

  /**
   * etcd3 resumes a reconnected watch after the revision in etcd's "created" answer, which is
   * the store's current one, not the last one delivered: the changes in between are replayed
   * next, but if the stream broke again before they arrived they would be skipped for good.
   * Resuming after the last revision delivered never skips any.
   */
  private resumeFrom(watcher: Watcher): void {
    watcher.request.start_revision = String(this.revision + 1);
    if (!this.disconnected) return;
    this.disconnected = false;
    this.log.info({ ...this.origin, revision: this.revision }, 'etcd watch reconnected');
  }

  private changed(key: string, value: string | undefined): void {
    if (value === undefined) this.entries.delete(key);
    else this.entries.set(key, value);
    this.debouncer.changed();
  }

  /** A burst of changes has settled: the document is re-read if it changed, and the mesh recomputed. */
  private settled(changedAt: number): void {
    if (this.closed || this.onMesh === undefined || this.onInvalid === undefined) return;
    const text = this.entries.get(this.key);
    if (text !== this.documentText) {
      this.documentText = text;
      try {
        if (text === undefined) throw new Error(`${this.key} was deleted (\`meshlet mesh apply\` writes it)`);
        this.document = parseMeshText(text, ETCD_PARSE_OPTIONS);
      } catch (err) {
        this.onInvalid(issuesOf(err));
      }
    }
    const mesh = this.currentMesh();
    const json = JSON.stringify(mesh);
    if (json === this.reportedMesh) return;
    this.reportedMesh = json;
    this.onMesh(mesh, changedAt);
  }

  /** The last good document with the endpoints registered now; keys that cannot be used are logged once. */
  private currentMesh(): MeshConfig {
    const { mesh, ignored } = meshWithRegistrations(this.document, this.entries, this.prefix);
    for (const [key, reason] of ignored) {
      if (this.ignored.get(key) !== reason) this.log.warn({ registry: this.origin.registry, key, reason }, 'etcd key ignored');
    }
    this.ignored = ignored;
    return mesh;
  }

  /** After the watch was canceled: reads the whole prefix again, and watches from there. */
  private async resync(reason: Error): Promise<void> {
    this.log.warn({ ...this.origin, err: reason.message }, 'etcd watch canceled: reading the whole mesh again');
    this.dropWatcher();
    for (let delayMs = RESYNC_BACKOFF.initialMs; !this.closed; delayMs = Math.min(delayMs * 2, RESYNC_BACKOFF.maxMs)) {
      try {
        await this.read();
        if (this.closed) return; // a watch made now would outlive the client
        await this.watch();
        this.debouncer.changed();
        return;
      } catch (err) {
        this.log.warn({ ...this.origin, err: (err as Error).message }, 'etcd: cannot read the mesh; retrying');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  /** Stops listening to the current watcher (not canceling it in etcd) and returns it. */
  private dropWatcher(): Watcher | undefined {
    const watcher = this.watcher;
    this.watcher = undefined;
    watcher?.removeAllListeners();
    // An 'error' nobody listens to would throw.
    watcher?.on('error', () => undefined);
    return watcher;
  }
}
