/**
 * Writing and reading the PEM files of a CA or workload directory. Files are replaced by rename
 * so a proxy watching the directory never reads a half-written certificate, and a key file is
 * created 0600 from the start rather than chmod-ed after it was briefly readable.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const PUBLIC_FILE_MODE = 0o644;
export const PRIVATE_FILE_MODE = 0o600;

/** Files (name → content, mode) written into `dir`, which is created 0700 if missing. */
export function writeFiles(dir: string, files: readonly { name: string; content: string; mode: number }[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const { name, content, mode } of files) {
    const path = join(dir, name);
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temp, content, { mode, flag: 'wx' });
    renameSync(temp, path);
  }
}

/** The text of `dir`/`name`; the error names the file and says what it should have held. */
export function readRequiredFile(dir: string, name: string, what: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: no such directory`);
  const path = join(dir, name);
  if (!existsSync(path)) throw new Error(`${path}: missing (expected ${what})`);
  return readFileSync(path, 'utf8');
}
