/**
 * The mesh file as a registry: read and validated at start, then watched (mesh-file-watcher.ts).
 * Each version of the file's content is handled once (one save fires several events), so an
 * invalid edit is reported once and the next save that changes the bytes is read again.
 */
import { dirname } from 'node:path';
import type { MeshConfig } from '../mesh-config';
import { parseMeshText, readMeshFile } from '../mesh-file';
import { watchMeshFile, type MeshFileWatcher, type WatchOptions } from './mesh-file-watcher';
import { issuesOf, type MeshRegistry, type OnInvalid, type OnMesh } from './mesh-registry';

// The poll catches edits fs.watch misses (network mounts, some containers) within the 1 s promise.
const WATCH: WatchOptions = { debounceMs: 100, pollIntervalMs: 250 };

export class FileRegistry implements MeshRegistry {
  readonly source: string;
  readonly origin: Readonly<Record<string, string>>;
  readonly baseDir: string;
  private watcher: MeshFileWatcher | undefined;
  /** Of the content last read, good or bad. */
  private lastDigest = '';

  constructor(private readonly file: string) {
    this.source = file;
    this.origin = { file };
    this.baseDir = dirname(file);
  }

  async start(onMesh: OnMesh, onInvalid: OnInvalid): Promise<MeshConfig> {
    const { text, digest } = readMeshFile(this.file);
    const mesh = parseMeshText(text);
    this.lastDigest = digest;
    this.watcher = watchMeshFile(this.file, WATCH, (changedAt) => {
      let changed: MeshConfig;
      try {
        const { text, digest } = readMeshFile(this.file);
        if (digest === this.lastDigest) return;
        this.lastDigest = digest;
        changed = parseMeshText(text);
      } catch (err) {
        onInvalid(issuesOf(err));
        return;
      }
      onMesh(changed, changedAt);
    });
    return mesh;
  }

  async close(): Promise<void> {
    this.watcher?.close();
  }
}
