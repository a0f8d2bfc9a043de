import type { Logger } from 'pino';
import type { ConfigIssue } from '../../xds/config-error';
import { SECRET, resourceError, unchanged, versioned, type Versioned, type XdsUpdate } from '../../xds/xds-resource-types';
import { parseSecret, type Secret } from './secret';

type SecretRef = { readonly name: string; readonly sds: boolean };

/**
 * Every named Secret the proxy holds: the bootstrap's static ones, and those SDS delivers.
 * TLS contexts watch the names they use; an SDS update (a rotated certificate) notifies them,
 * and they take it for new handshakes while open connections go on. The SDS subscription is
 * the set of names some context watches.
 */
export class SecretManager {
  private readonly dynamic = new Map<string, Versioned<Secret>>();
  private readonly watchers = new Map<string, Set<() => void>>();
  /** Called with the SDS names to subscribe to whenever that set changes (the xDS client sets it). */
  subscribe: ((names: ReadonlySet<string>) => void) | undefined;

  constructor(
    private readonly staticSecrets: ReadonlyMap<string, Secret>,
    private readonly log: Logger,
  ) {}

  get(ref: SecretRef): Secret | undefined {
    return ref.sds ? this.dynamic.get(ref.name)?.value : this.staticSecrets.get(ref.name);
  }

  /** Calls `onChange` whenever the secret changes; returns the function that stops watching. */
  watch(ref: SecretRef, onChange: () => void): () => void {
    if (!ref.sds) return () => {};
    let callbacks = this.watchers.get(ref.name);
    if (callbacks === undefined) {
      callbacks = new Set();
      this.watchers.set(ref.name, callbacks);
      this.subscribe?.(this.names());
    }
    callbacks.add(onChange);
    return () => {
      callbacks.delete(onChange);
      if (callbacks.size > 0 || this.watchers.get(ref.name) !== callbacks) return;
      this.watchers.delete(ref.name);
      this.dynamic.delete(ref.name);
      this.subscribe?.(this.names());
    };
  }

  /** The SDS names in use. */
  names(): ReadonlySet<string> {
    return new Set(this.watchers.keys());
  }

  /** An SDS update: all its secrets parse, or none applies (NACK with each problem). */
  applySecrets(update: XdsUpdate): string | undefined {
    const errors: string[] = [];
    const changed: Versioned<Secret>[] = [];
    for (const resource of update.resources) {
      if (unchanged(this.dynamic.get(resource.name), resource)) continue;
      const issues: ConfigIssue[] = [];
      const secret = parseSecret(resource.value, '', issues);
      if (secret === undefined || issues.length > 0) errors.push(resourceError(SECRET, resource.name, issues));
      else changed.push(versioned(resource, secret));
    }
    if (errors.length > 0) return errors.join('\n');
    for (const secret of changed) {
      this.dynamic.set(secret.value.name, secret);
      this.log.info({ secret: secret.value.name, version: secret.version }, 'secret updated (SDS)');
      for (const onChange of this.watchers.get(secret.value.name) ?? []) onChange();
    }
    // As Envoy: a removed secret stays in use by the contexts that have it until they go.
    return undefined;
  }

  /** For /config_dump's SecretsConfigDump: names and versions, never key material. */
  dump(): { static: string[]; dynamic: { name: string; version: string; lastUpdated: Date }[] } {
    return {
      static: [...this.staticSecrets.keys()],
      dynamic: [...this.dynamic.values()].map((s) => ({ name: s.value.name, version: s.version, lastUpdated: s.lastUpdated })),
    };
  }
}
