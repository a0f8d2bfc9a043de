import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** A child the harness started and must stop; output is kept (bounded) for error messages and results. */
export interface Tracked {
  label: string;
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
}

const MAX_KEPT_OUTPUT = 1 << 20;

let tasksetAvailable: boolean | undefined;

export function isPinningAvailable(): boolean {
  tasksetAvailable ??= spawnSync('taskset', ['--version'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  return tasksetAvailable;
}

/** `taskset -c CORE cmd args` when taskset exists; taskset execs, so the pid is the command's own. */
export function pinned(core: number, cmd: string, args: readonly string[]): [string, string[]] {
  return isPinningAvailable() ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, [...args]];
}

/**
 * Every process the harness starts goes through here, so that one place can kill them all on exit,
 * on SIGINT/SIGTERM, or when a run fails. Children get their own process group, so stopping nginx or
 * a multi-worker meshlet also stops the workers they forked.
 */
export class ProcessRegistry {
  private readonly live = new Set<Tracked>();
  private reaper: ChildProcess | undefined;

  spawn(label: string, cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Tracked {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      if (out.length < MAX_KEPT_OUTPUT) out += d.toString('utf8');
    });
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString('utf8')).slice(-MAX_KEPT_OUTPUT);
    });
    // A child that exits early closes its stdin; writes to it must not crash the harness.
    child.stdin?.on('error', () => undefined);
    let done = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', (e) => {
        err += `\n${e.message}`;
        done = true;
        resolve({ code: -1, signal: null });
      });
      child.once('close', (code, signal) => {
        done = true;
        resolve({ code, signal });
      });
    });
    const tracked: Tracked = {
      label,
      child,
      pid: child.pid ?? -1,
      stdout: () => out,
      stderr: () => err,
      exited,
      hasExited: () => done,
    };
    this.live.add(tracked);
    this.tellReaper(`+${tracked.pid}`);
    void exited.then(() => {
      this.live.delete(tracked);
      this.tellReaper(`-${tracked.pid}`);
    });
    return tracked;
  }

  /** Runs a command to completion within timeoutMs (killed after that). */
  async run(label: string, cmd: string, args: readonly string[], timeoutMs: number, opts: { cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
    const t = this.spawn(label, cmd, args, opts);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(t, 'SIGKILL');
    }, timeoutMs);
    const { code } = await t.exited;
    clearTimeout(timer);
    return { code, stdout: t.stdout(), stderr: t.stderr(), timedOut };
  }

  /** SIGTERM, then SIGKILL if the process group is still there after graceMs. */
  async stop(t: Tracked, graceMs = 2000): Promise<void> {
    if (t.hasExited()) return;
    killGroup(t, 'SIGTERM');
    const timer = setTimeout(() => killGroup(t, 'SIGKILL'), graceMs);
    await t.exited;
    clearTimeout(timer);
    // The leader may exit before forked workers do; make sure the group is gone.
    killGroup(t, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((t) => this.stop(t)));
  }

  /** Synchronous, for process 'exit' where no more events run. */
  killAllNow(): void {
    for (const t of this.live) killGroup(t, 'SIGKILL');
    this.live.clear();
  }

  private tellReaper(line: string): void {
    if (this.reaper?.stdin?.writable) this.reaper.stdin.write(`${line}\n`);
  }

  /**
   * Kills every child on exit and on SIGINT/SIGTERM, and starts the reaper (bench/reaper.ts) for the
   * case no hook can handle: the harness killed outright. `cleanup` (synchronous) runs after the kill,
   * e.g. to remove temp files. Returns the function that undoes all this.
   */
  installExitHooks(cleanup: () => void): () => void {
    this.reaper = spawn(process.execPath, [path.join(__dirname, 'reaper.js')], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    this.reaper.stdin?.on('error', () => undefined);
    const onExit = (): void => {
      this.killAllNow();
      cleanup();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      onExit();
      process.stderr.write(`\nbench: ${signal}, stopped all benchmark processes\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return () => {
      this.reaper?.stdin?.end();
      this.reaper = undefined;
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  }
}

/** Calls `onLine` with each line a child writes on stderr, as it comes (the registry keeps only a bounded tail). */
export function onStderrLines(t: Tracked, onLine: (line: string) => void): void {
  let pending = '';
  t.child.stderr?.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') onLine(line);
  });
}

function killGroup(t: Tracked, signal: NodeJS.Signals): void {
  if (t.pid <= 0) return;
  try {
    process.kill(-t.pid, signal);
  } catch {
    // already gone
  }
}
