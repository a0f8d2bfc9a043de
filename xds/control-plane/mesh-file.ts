import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config-error';
import type { MeshConfig } from './mesh-config';
import { parseMesh, type MeshParseOptions } from './mesh-parser';

export interface MeshFileText {
  readonly text: string;
  /** Of the file's bytes: watchers fire several times per save, and an unchanged file is not re-read into snapshots. */
  readonly digest: string;
}

/** @throws ConfigError when the file cannot be read */
export function readMeshFile(file: string): MeshFileText {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  return { text, digest: createHash('sha256').update(text).digest('hex') };
}

/** Parses and validates a mesh file's text (YAML or JSON). @throws ConfigError naming every problem */
export function parseMeshText(text: string, options?: MeshParseOptions): MeshConfig {
  let document: unknown;
  try {
    // Duplicate keys are an error: in a hand-edited file the second one silently winning hides mistakes.
    document = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError([{ path: '', message: `not valid YAML: ${(err as Error).message}` }]);
  }
  return parseMesh(document, options);
}
