/**
 * Notices changes to the mesh file. fs.watch on the directory is fast, and seeing the directory
 * (not the file) catches editors that save by writing a new file and renaming it over the old
 * one; it is also unreliable on some filesystems (network mounts, some containers), so the file
 * is polled as well. Bursts of events (one save is often several) are debounced into one call.
 */
import { watch, watchFile, unwatchFile, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import { changeDebouncer } from './change-debouncer';

export interface WatchOptions {
  readonly debounceMs: number;
  readonly pollIntervalMs: number;
}

export interface MeshFileWatcher {
  close(): void;
}

/** `onChange(firstEventAt)`: `firstEventAt` (performance.now()) is when the burst began, for push latency. */
export function watchMeshFile(file: string, options: WatchOptions, onChange: (firstEventAt: number) => void): MeshFileWatcher {
  const debouncer = changeDebouncer(options.debounceMs, onChange);
  const name = basename(file);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changedName) => {
      if (changedName === null || changedName === name) debouncer.changed();
    });
    watcher.on('error', () => watcher?.close()); // the poll below still runs
  } catch {
    // No directory events here: polling alone.
  }
  const poll = (current: Stats, previous: Stats) => {
    if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size || current.ino !== previous.ino) debouncer.changed();
  };
  watchFile(file, { interval: options.pollIntervalMs, persistent: false }, poll);

  return {
    close() {
      debouncer.cancel();
      watcher?.close();
      unwatchFile(file, poll);
    },
  };
}
