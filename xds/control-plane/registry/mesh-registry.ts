/**
 * Where the mesh lives, as the control plane sees it: something that yields a validated
 * MeshConfig now and whenever it changes. The control plane builds and serves snapshots from
 * what it is given and never knows whether that came from a file or from etcd.
 *
 * Backends: the mesh file (file-registry.ts) and etcd (etcd-registry.ts: the mesh document plus
 * endpoints that instances register themselves).
 */
import { ConfigError, type ConfigIssue } from '../../config-error';
import type { MeshConfig } from '../mesh-config';

/** A new mesh; `changedAt` (performance.now()) is when the change was first noticed, for push latency. */
export type OnMesh = (mesh: MeshConfig, changedAt: number) => void;

/** The mesh changed into something invalid: the last good mesh stays in force. */
export type OnInvalid = (issues: readonly ConfigIssue[]) => void;

export interface MeshRegistry {
  /** Where the mesh document lives, for a person: the file, or the etcd endpoints and key. */
  readonly source: string;
  /** The same as log fields: `{file}` for the file backend, `{registry, key}` for etcd. */
  readonly origin: Readonly<Record<string, string>>;
  /** Relative paths in the mesh (mtls.ca_dir, gateway certificate files) are resolved from here. */
  readonly baseDir: string;
  /**
   * Reads the mesh, then watches it: every later change is reported once, as `onMesh` or
   * `onInvalid`, never before this resolves.
   * @returns the mesh as it is now
   * @throws ConfigError when it is invalid now; nothing keeps running then
   */
  start(onMesh: OnMesh, onInvalid: OnInvalid): Promise<MeshConfig>;
  /** Stops watching; no callback runs after it resolves. */
  close(): Promise<void>;
}

/**
 * The issues of whatever reading a mesh threw. Not only ConfigErrors: a control plane that
 * crashes on a bad change takes every proxy's updates with it, so a bug is reported like a
 * problem in the mesh, and the last good mesh stays.
 */
export function issuesOf(err: unknown): readonly ConfigIssue[] {
  return err instanceof ConfigError ? err.issues : [{ path: '', message: (err as Error).stack ?? String(err) }];
}
