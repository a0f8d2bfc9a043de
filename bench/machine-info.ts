import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** First line of a tool's version output (some print it on stderr, wrk exits 1), or undefined if the tool is absent. */
export function toolVersion(cmd: string, args: readonly string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return undefined;
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l !== '');
  return text;
}

/** e.g. "nginx version: nginx/1.22.1" → "1.22.1"; the whole line when no version number is found. */
export function versionNumber(line: string): string {
  const m = /(\d+\.\d+(?:\.\d+)?(?:[-+~][\w.+~-]*)?)/.exec(line);
  return m ? m[1] : line;
}

export function packageVersion(repoRoot: string, name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function osDescription(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1];
  } catch {
    // no os-release
  }
  return `${os.type()} ${os.release()}`;
}
