import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/** How to reach an mTLS listener: the client certificate to present, the CA and name to verify it by. */
export interface ProbeTls {
  certificateChain: string;
  privateKey: string;
  trustedCa: string;
  servername: string;
}

/** GET `url`: plain HTTP, or HTTPS with a client certificate when `tls` is given (files are read at each call). */
export function httpGetStatus(url: string, timeoutMs: number, tls?: ProbeTls): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 1 << 20) body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req = tls
      ? https.get(
          url,
          {
            agent: false,
            timeout: timeoutMs,
            cert: readFileSync(tls.certificateChain),
            key: readFileSync(tls.privateKey),
            ca: readFileSync(tls.trustedCa),
            servername: tls.servername,
          },
          onResponse,
        )
      : http.get(url, { agent: false, timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * Polls until `url` answers 200, the deadline passes, or `stillRunning` says the process died
 * (so a crashing proxy fails in milliseconds, not after the whole deadline).
 */
export async function waitFor200(
  url: string,
  timeoutMs: number,
  stillRunning: () => boolean,
  tls?: ProbeTls,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!stillRunning()) return { ok: false, reason: 'process exited before it was ready' };
    try {
      const { status } = await httpGetStatus(url, 1000, tls);
      if (status === 200) return { ok: true };
      last = `HTTP ${status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ok: false, reason: `${url} not ready after ${timeoutMs} ms (last: ${last})` };
}

/** An unused loopback port. Another process could take it before it is used; on a bench box that race is acceptable. */
/**
 * A free port below Linux's ephemeral range (32768+), for a process that binds it later: no
 * outgoing connection (which takes its local port from that range) can take it meanwhile.
 */
export async function freePortBelowEphemeral(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt >= 50) throw new Error('no free port found below the ephemeral range');
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}
