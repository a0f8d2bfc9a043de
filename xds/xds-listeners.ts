import type { Logger } from 'pino';
import { compileRoutes, listenerConfig, parseListener, type ParsedListener, type RouteCompileOptions } from '../proxy/config/listener-parser';
import type { ListenerConfig } from '../proxy/listener/listener-config';
import type { RouteTable } from '../proxy/router/route-table';
import type { ConfigIssue } from './config-error';
import { LISTENER, ROUTE_CONFIGURATION, fromBootstrap, resourceError, unchanged, versioned, type Versioned, type XdsUpdate } from './xds-resource-types';

/** What LDS and RDS change in the proxy (ProxyServer implements it). */
export interface ListenerHost {
  addOrUpdateListener(config: ListenerConfig): Promise<void>;
  setRouteTables(listenerName: string, routeTables: readonly RouteTable[]): void;
  removeListener(name: string): void;
}

/** A listener name's versions: the one bound, and a newer one warming (waiting for its routes, or binding). */
interface ListenerSlot {
  active?: Versioned<ParsedListener>;
  warming?: Versioned<ParsedListener>;
  binding: boolean;
  /** Static listeners with RDS live here too (for their routes) but are not LDS's to change. */
  readonly isStatic: boolean;
}

/** A RouteConfiguration from RDS, compiled once per distinct listener option set (host-port stripping). */
interface HeldRoutes {
  readonly routes: Versioned<unknown>;
  readonly tables: Map<string, RouteTable>;
}

const routeNames = (listener: ParsedListener): string[] => listener.chains.flatMap((c) => (c.routes.kind === 'rds' ? [c.routes.name] : []));
const sameRouteNames = (a: ParsedListener, b: ParsedListener): boolean => routeNames(a).join('\n') === routeNames(b).join('\n');
const optionsKey = (options: RouteCompileOptions): string => `${options.stripAnyHostPort === true}:${options.stripMatchingHostPort ?? ''}`;

/**
 * LDS and RDS: listeners from the control plane, and the routes of listeners that use RDS
 * (static or dynamic). A new or changed listener warms until its RouteConfiguration is known,
 * the previous version serving meanwhile; then it is bound (same address: the socket and open
 * connections stay; another address: bound anew while the old one drains). Route updates swap
 * the connection manager's config. RDS subscriptions follow the listeners.
 */
export class XdsListeners {
  private readonly slots = new Map<string, ListenerSlot>();
  private readonly routes = new Map<string, HeldRoutes>();
  private warmWaiters: (() => void)[] = [];
  /** version_info of the last accepted LDS response. */
  version = '';

  constructor(
    private readonly host: ListenerHost,
    private readonly staticListeners: readonly ParsedListener[],
    private readonly subscribeRoutes: (names: ReadonlySet<string>) => void,
    private readonly log: Logger,
    /** Secrets TLS contexts may name without SDS. */
    private readonly staticSecrets: ReadonlySet<string>,
  ) {}

  /** The static RDS listeners start warming: their routes are subscribed to. */
  start(): void {
    for (const listener of this.staticListeners) {
      if (routeNames(listener).length === 0) continue;
      this.slots.set(listener.name, { isStatic: true, binding: false });
      this.warm(fromBootstrap(listener));
    }
    this.updateSubscription();
  }

  applyListeners(update: XdsUpdate, clusterNames: ReadonlySet<string>): string | undefined {
    const errors: string[] = [];
    const changed: Versioned<ParsedListener>[] = [];
    const statics = new Set(this.staticListeners.map((l) => l.name));
    for (const resource of update.resources) {
      if (statics.has(resource.name)) {
        errors.push(resourceError(LISTENER, resource.name, [{ path: 'name', message: 'a static listener has this name; LDS cannot change it' }]));
        continue;
      }
      const slot = this.slots.get(resource.name);
      if (unchanged(slot?.warming ?? slot?.active, resource)) continue;
      const issues: ConfigIssue[] = [];
      const listener = parseListener(resource.value, '', issues, { clusterNames, ads: true, staticSecrets: this.staticSecrets });
      // Routes already held must compile for this listener's options too.
      if (listener !== undefined) this.routeTables(listener, issues);
      if (listener === undefined || issues.length > 0) errors.push(resourceError(LISTENER, resource.name, issues));
      else changed.push(versioned(resource, listener));
    }
    errors.push(...this.addressConflicts(changed, update.removed));
    if (errors.length > 0) return errors.join('\n');

    for (const name of update.removed) {
      const slot = this.slots.get(name);
      if (slot === undefined || slot.isStatic) continue;
      this.slots.delete(name);
      if (slot.active !== undefined) this.host.removeListener(name);
      this.log.info({ listener: name }, 'listener removed (LDS); draining');
    }
    for (const listener of changed) {
      if (!this.slots.has(listener.value.name)) this.slots.set(listener.value.name, { isStatic: false, binding: false });
      this.warm(listener);
    }
    this.version = update.version;
    this.updateSubscription();
    this.notifyIfWarm();
    return undefined;
  }

  applyRoutes(update: XdsUpdate, clusterNames: ReadonlySet<string>): string | undefined {
    const errors: string[] = [];
    const changed: [string, HeldRoutes][] = [];
    for (const resource of update.resources) {
      if (unchanged(this.routes.get(resource.name)?.routes, resource)) continue;
      const issues: ConfigIssue[] = [];
      const tables = new Map<string, RouteTable>();
      const users = this.listenersUsing(resource.name);
      // Compiled for every filter chain using it, or once with defaults so a bad one is still NACKed.
      for (const options of users.length > 0 ? users : [{}]) {
        const key = optionsKey(options);
        if (tables.has(key)) continue;
        // Over RDS, Envoy checks the clusters a route names only when validate_clusters says so.
        const table = compileRoutes(resource.value, '', issues, options, clusterNames, false);
        if (table !== undefined) tables.set(key, table);
      }
      if (issues.length > 0) errors.push(resourceError(ROUTE_CONFIGURATION, resource.name, issues));
      else changed.push([resource.name, { routes: versioned(resource, resource.value), tables }]);
    }
    if (errors.length > 0) return errors.join('\n');

    if (update.removed.length > 0) {
      // As Envoy: a listener keeps its last routes; removing the listener (LDS) is how they go.
      this.log.warn({ removed: update.removed }, 'RDS removal of RouteConfigurations ignored; listeners keep their last routes');
    }
    for (const [name, held] of changed) {
      this.routes.set(name, held);
      for (const [listenerName, slot] of this.slots) {
        const active = slot.active?.value;
        if (active !== undefined && routeNames(active).includes(name)) this.host.setRouteTables(listenerName, this.routeTables(active, [])!);
        this.activate(listenerName);
      }
    }
    return undefined;
  }

  /** Resolves when no listener is warming: all bound with their routes (the proxy's initialization waits for this). */
  whenWarm(): Promise<void> {
    if (this.isWarm()) return Promise.resolve();
    return new Promise((resolve) => this.warmWaiters.push(resolve));
  }

  /** For /config_dump: ListenersConfigDump's dynamic listeners and RoutesConfigDump's dynamic route configs. */
  dump(): { listeners: { name: string; active?: Versioned<ParsedListener>; warming?: Versioned<ParsedListener> }[]; routes: Versioned<unknown>[] } {
    return {
      listeners: [...this.slots].filter(([, s]) => !s.isStatic).map(([name, s]) => ({ name, active: s.active, warming: s.warming })),
      routes: [...this.routes.values()].map((r) => r.routes),
    };
  }

  private warm(listener: Versioned<ParsedListener>): void {
    this.slots.get(listener.value.name)!.warming = listener;
    this.activate(listener.value.name);
  }

  /** Binds the warming version once its routes are known; one bind at a time per listener name. */
  private activate(name: string): void {
    const slot = this.slots.get(name);
    const next = slot?.warming;
    if (slot === undefined || next === undefined || slot.binding) return;
    const tables = this.routeTables(next.value, []);
    if (tables === undefined) return;
    slot.binding = true;
    this.host.addOrUpdateListener(listenerConfig(next.value, tables)).then(
      () => {
        if (this.slots.get(name) !== slot) return this.host.removeListener(name);
        const replaced = slot.active;
        slot.active = next;
        if (slot.warming === next) slot.warming = undefined;
        // Routes that arrived while binding.
        const current = this.routeTables(next.value, []);
        if (current !== undefined && current.some((t, i) => t !== tables[i])) this.host.setRouteTables(name, current);
        // The replaced version's routes may be used no more.
        if (replaced !== undefined && !sameRouteNames(replaced.value, next.value)) this.updateSubscription();
      },
      (err: Error) => {
        // As Envoy: a listener that cannot bind is dropped; the version before it (if any) keeps serving.
        this.log.error({ listener: name, err: err.message }, 'listener update failed');
        if (slot.warming === next) slot.warming = undefined;
        // A listener that never bound is forgotten; the next LDS response that names it tries again.
        if (slot.active === undefined && slot.warming === undefined && this.slots.get(name) === slot) this.slots.delete(name);
        this.updateSubscription();
      },
    ).finally(() => {
      slot.binding = false;
      this.activate(name);
      this.notifyIfWarm();
    });
  }

  /** Each chain's route table: inline, or compiled (once per option set) from the RouteConfiguration held; undefined while one is missing. */
  private routeTables(listener: ParsedListener, issues: ConfigIssue[]): RouteTable[] | undefined {
    const tables: RouteTable[] = [];
    for (const chain of listener.chains) {
      if (chain.routes.kind === 'inline') {
        tables.push(chain.routes.table);
        continue;
      }
      const held = this.routes.get(chain.routes.name);
      if (held === undefined) return undefined;
      const key = optionsKey(chain.routeOptions);
      let table = held.tables.get(key);
      if (table === undefined) {
        const routeIssues: ConfigIssue[] = [];
        table = compileRoutes(held.routes.source, '', routeIssues, chain.routeOptions, undefined, false);
        for (const issue of routeIssues) issues.push({ path: '', message: `RouteConfiguration "${chain.routes.name}" (over RDS): ${issue.path}: ${issue.message}` });
        if (table === undefined) return undefined;
        held.tables.set(key, table);
      }
      tables.push(table);
    }
    return tables;
  }

  /** The route compile options of every filter chain that uses the RouteConfiguration `name`. */
  private listenersUsing(name: string): RouteCompileOptions[] {
    const users: RouteCompileOptions[] = [];
    for (const slot of this.slots.values()) {
      for (const version of [slot.active, slot.warming]) {
        for (const chain of version?.value.chains ?? []) if (chain.routes.kind === 'rds' && chain.routes.name === name) users.push(chain.routeOptions);
      }
    }
    return users;
  }

  /** Two listeners on one address cannot both bind: Envoy rejects the update, and so does meshlet. */
  private addressConflicts(changed: readonly Versioned<ParsedListener>[], removed: readonly string[]): string[] {
    const addresses = new Map<string, string>();
    for (const listener of this.staticListeners) addresses.set(listener.name, `${listener.address}:${listener.port}`);
    for (const [name, slot] of this.slots) {
      const latest = slot.warming ?? slot.active;
      if (latest !== undefined && !removed.includes(name)) addresses.set(name, `${latest.value.address}:${latest.value.port}`);
    }
    for (const listener of changed) addresses.set(listener.value.name, `${listener.value.address}:${listener.value.port}`);
    const errors: string[] = [];
    for (const listener of changed) {
      const address = `${listener.value.address}:${listener.value.port}`;
      if (listener.value.port === 0) continue;
      const other = [...addresses].find(([name, a]) => a === address && name !== listener.value.name);
      if (other !== undefined) errors.push(resourceError(LISTENER, listener.value.name, [{ path: 'address', message: `${address} is also the address of listener "${other[0]}"` }]));
    }
    return errors;
  }

  private updateSubscription(): void {
    const names = new Set<string>();
    for (const slot of this.slots.values()) {
      for (const version of [slot.active, slot.warming]) {
        for (const name of version ? routeNames(version.value) : []) names.add(name);
      }
    }
    for (const name of this.routes.keys()) if (!names.has(name)) this.routes.delete(name);
    this.subscribeRoutes(names);
  }

  private isWarm(): boolean {
    for (const slot of this.slots.values()) if (slot.warming !== undefined || slot.binding) return false;
    return true;
  }

  private notifyIfWarm(): void {
    if (!this.isWarm()) return;
    const waiters = this.warmWaiters;
    this.warmWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
