import { createHash } from 'node:crypto';

/**
 * Versions are content hashes: the same resource gets the same version in every snapshot and
 * across restarts, so "did it change for this node" is a string comparison.
 */
export function contentVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The version of a set of resources (a SotW response, a snapshot): a hash of its names and versions. */
export function combinedVersion(entries: Iterable<{ readonly name: string; readonly version: string }>): string {
  const hash = createHash('sha256');
  for (const { name, version } of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    hash.update(`${name}\0${version}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}
