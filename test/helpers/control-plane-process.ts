/** `meshlet control-plane` as a real process, ready (admin /ready 200) before it is returned. */
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { MESHLET_BIN } from './proxy-process';

export interface ControlPlaneProcess {
  readonly adminUrl: string;
  readonly pid: number;
  stderr(): string;
  /** Its JSON log lines so far. */
  logs(): { msg: string; level: number; [field: string]: unknown }[];
  /** Sends `signal` (SIGTERM by default; SIGKILL as a crash), then SIGKILL after 5 s; resolves with the exit code once it is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `args`: where the mesh is (--config FILE or --registry URL) and the ADS port; the admin port is added. */
export async function startControlPlane(args: readonly string[], adminPort: number): Promise<ControlPlaneProcess> {
  const child = spawn(process.execPath, [MESHLET_BIN, 'control-plane', ...args, '--admin-port', String(adminPort), '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    return exited.finally(() => clearTimeout(timer));
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`control plane exited with ${child.exitCode}: ${err}`);
    const status = await request(`${adminUrl}/ready`)
      .then(async (res) => (await res.body.text(), res.statusCode))
      .catch(() => 0);
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`control plane not ready within 15 s: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const logs = () =>
    err
      .split('\n')
      // Node's own warnings (grpc-js naming a TLS server by its IP address) are not log lines.
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  return { adminUrl, pid: child.pid!, stderr: () => err, logs, stop };
}
