/** `meshlet register` as a real process, returned once it has logged that the endpoint is in etcd. */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { MESHLET_BIN } from './proxy-process';

export interface RegisterProcess {
  /** performance.now() when its 'registered' line was read: the key was in etcd by then. */
  readonly registeredAt: number;
  stderr(): string;
  /** Sends the signal; resolves with the exit code (or the signal's name) once it is gone, at most 10 s later. */
  stop(signal: NodeJS.Signals): Promise<number | string | null>;
}

/** `args`: --registry, --service, --address, --port and whatever else. */
export async function startRegister(args: readonly string[]): Promise<RegisterProcess> {
  const child = spawn(process.execPath, [MESHLET_BIN, 'register', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let registeredAt = 0;
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const registered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`meshlet register did not register within 10 s: ${err}`)), 10_000);
    child.stderr!.on('data', (d) => {
      err += d;
      if (registeredAt === 0 && /"msg":"registered"/.test(err)) {
        registeredAt = performance.now();
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`meshlet register exited (${code}): ${err}`));
    });
  });
  try {
    await registered;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    registeredAt,
    stderr: () => err,
    stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      return exited.finally(() => clearTimeout(timer));
    },
  };
}
