import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { latencyPercentiles } from '../percentiles';
import { frameHttpResponse } from './http-response-framing';
import type { LoadResult, LoadSpec } from './load-result';

export interface LoadgenTarget {
  host: string;
  port: number;
  path: string;
  /** A request slower than this is abandoned and its connection replaced. */
  timeoutSec: number;
}

/** Growable sample store; Float64Array keeps 10^6 samples cheap for the GC of a process sharing a core. */
class Samples {
  private data = new Float64Array(1 << 14);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

interface Conn {
  socket: net.Socket;
  buf: Buffer;
  busy: boolean;
  open: boolean;
  sentAt: number;
  dispatchedAt: number;
  intendedAt: number;
}

const MAX_RECONNECTS = 1000;

/**
 * HTTP/1.1 load over raw keep-alive sockets, with microsecond timing.
 *
 * Rate mode is open loop and corrects coordinated omission the way wrk2 does, with one refinement:
 * a request's latency runs from the moment the generator's timer released it, and the time it then
 * waits for a free connection is counted. A stalled proxy therefore shows its stall in the latency,
 * but the generator's own timer lateness (Node timers tick at ~1 ms) is not charged to the proxy; it is
 * reported separately as dispatch lag, and the strict wrk2 figure (from the ideal slot) is kept too.
 */
export async function runLoadgen(target: LoadgenTarget, spec: LoadSpec): Promise<LoadResult> {
  const request = Buffer.from(`GET ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUser-Agent: meshlet-bench\r\n\r\n`, 'latin1');
  const timeoutMs = target.timeoutSec * 1000;
  const latency = new Samples();
  const fromIntended = new Samples();
  const lag = new Samples();
  let requests = 0;
  let non2xx = 0;
  let socketErrors = 0;
  let reconnects = 0;
  let latencySum = 0;
  let latencyMax = 0;
  let running = false;
  let endAt = Number.POSITIVE_INFINITY;
  const idle: Conn[] = [];
  const conns = new Set<Conn>();
  // Rate mode queue of released requests waiting for a connection: [dispatchedAt, intendedAt] pairs.
  const queue: number[] = [];
  let queueHead = 0;
  let released = 0;
  let finish: () => void = () => undefined;

  const send = (c: Conn, dispatchedAt: number, intendedAt: number): void => {
    c.busy = true;
    c.dispatchedAt = dispatchedAt;
    c.intendedAt = intendedAt;
    c.sentAt = performance.now();
    c.socket.write(request);
  };

  const pump = (): void => {
    while (queueHead < queue.length && idle.length > 0) {
      const c = idle.pop() as Conn;
      send(c, queue[queueHead], queue[queueHead + 1]);
      queueHead += 2;
    }
    if (queueHead > 4096 && queueHead * 2 > queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
  };

  const offerIdle = (c: Conn): void => {
    const now = performance.now();
    if (spec.mode === 'closed') {
      if (running && now < endAt) send(c, now, now);
      else idle.push(c);
    } else {
      idle.push(c);
      pump();
    }
    checkDone();
  };

  const checkDone = (): void => {
    if (running || [...conns].some((c) => c.busy) || queueHead < queue.length) return;
    finish();
  };

  const onResponse = (c: Conn, status: number): void => {
    const now = performance.now();
    const us = (now - (spec.mode === 'rate' ? c.dispatchedAt : c.sentAt)) * 1000;
    latency.push(us);
    latencySum += us;
    if (us > latencyMax) latencyMax = us;
    if (spec.mode === 'rate') {
      fromIntended.push((now - c.intendedAt) * 1000);
      lag.push((c.dispatchedAt - c.intendedAt) * 1000);
    }
    requests++;
    if (status < 200 || status > 299) non2xx++;
    c.busy = false;
  };

  const connect = (): Promise<Conn> =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
      const c: Conn = { socket, buf: Buffer.alloc(0), busy: false, open: false, sentAt: 0, dispatchedAt: 0, intendedAt: 0 };
      socket.once('connect', () => {
        c.open = true;
        conns.add(c);
        resolve(c);
      });
      socket.on('data', (chunk: Buffer) => {
        c.buf = c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
        for (;;) {
          let framed;
          try {
            framed = frameHttpResponse(c.buf);
          } catch {
            socket.destroy();
            return;
          }
          if (!framed) return;
          c.buf = c.buf.subarray(framed.length);
          onResponse(c, framed.status);
          if (!framed.keepAlive) {
            socket.destroy();
            return;
          }
          offerIdle(c);
        }
      });
      socket.on('error', (err) => {
        if (!c.open) reject(err);
      });
      socket.on('close', () => {
        if (!c.open) return;
        c.open = false;
        conns.delete(c);
        const idx = idle.indexOf(c);
        if (idx >= 0) idle.splice(idx, 1);
        if (c.busy) {
          c.busy = false;
          socketErrors++;
        }
        replace();
      });
    });

  const replace = (): void => {
    if (!running || reconnects >= MAX_RECONNECTS) {
      checkDone();
      return;
    }
    reconnects++;
    connect().then(offerIdle, () => {
      socketErrors++;
      setTimeout(replace, 10);
    });
  };

  // Connections are opened before the clock starts so handshakes are not timed, as wrk does.
  for (let i = 0; i < spec.connections; i++) idle.push(await connect());

  const startedAt = performance.now();
  endAt = startedAt + spec.durationSec * 1000;
  running = true;
  const done = new Promise<void>((resolve) => (finish = resolve));

  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const c of conns) {
      if (c.busy && now - c.sentAt > timeoutMs) {
        c.busy = false;
        socketErrors++;
        c.socket.destroy();
      }
    }
    if (!running && now > endAt + timeoutMs) {
      // Whatever is still queued can no longer be answered within the timeout.
      socketErrors += (queue.length - queueHead) / 2;
      queueHead = queue.length;
      finish();
    }
  }, 50);

  let ticker: NodeJS.Timeout | undefined;
  if (spec.mode === 'closed') {
    for (const c of idle.splice(0)) send(c, startedAt, startedAt);
    ticker = setTimeout(() => {
      running = false;
      checkDone();
    }, spec.durationSec * 1000);
  } else {
    const rate = spec.rate ?? 1000;
    const total = Math.round(rate * spec.durationSec);
    const intervalMs = 1000 / rate;
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - startedAt) / intervalMs) + 1);
      for (; released < due; released++) queue.push(now, startedAt + released * intervalMs);
      pump();
      if (released >= total) {
        running = false;
        checkDone();
        return;
      }
      ticker = setTimeout(tick, Math.max(0, startedAt + released * intervalMs - performance.now()));
    };
    tick();
  }

  await done;
  clearInterval(watchdog);
  if (ticker) clearTimeout(ticker);
  const durationSec = spec.durationSec;
  for (const c of [...conns]) {
    c.open = false;
    c.socket.destroy();
  }
  return {
    generator: 'loadgen',
    spec,
    requests,
    non2xx,
    socketErrors,
    durationSec,
    rps: requests / durationSec,
    latencyUs: { ...latencyPercentiles(latency.values()), mean: requests > 0 ? latencySum / requests : Number.NaN, max: latencyMax },
    ...(spec.mode === 'rate'
      ? { latencyFromIntendedUs: latencyPercentiles(fromIntended.values()), dispatchLagUs: latencyPercentiles(lag.values()) }
      : {}),
  };
}
