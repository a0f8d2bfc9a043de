import { createWriteStream } from 'node:fs';
import pino, { type Logger } from 'pino';
import { verifiedPeer } from '../tls/handshake-peer';
import type { AccessLogConfig } from './listener-config';
import type { StreamInfo } from './stream-info';

/**
 * Access logs as JSON lines through pino: one object per request with the
 * fields of Envoy's default format, plus meshlet's S_* timings.
 */
export class AccessLogger {
  private readonly sinks: Logger[];

  constructor(configs: readonly AccessLogConfig[], private readonly listenerName: string) {
    this.sinks = configs.map((c) => {
      const dest =
        c.sink === 'file'
          ? createWriteStream(c.path!, { flags: 'a' })
          : pino.destination({ dest: c.sink === 'stdout' ? 1 : 2, sync: false });
      return pino({ base: null, timestamp: false, messageKey: 'message' }, dest);
    });
  }

  get enabled(): boolean {
    return this.sinks.length > 0;
  }

  log(info: StreamInfo, totalMs: number): void {
    const req = info.req;
    const entry = {
      start_time: new Date(performance.timeOrigin + info.startMs).toISOString(),
      listener: this.listenerName,
      method: req.method,
      path: req.url,
      protocol: `HTTP/${req.httpVersion}`,
      authority: req.headers.host ?? req.headers[':authority'],
      response_code: info.status,
      response_flags: info.responseFlag || '-',
      bytes_sent: info.bytesSent,
      duration_ms: round(totalMs),
      s_total_ms: round(totalMs),
      s_overhead_ms: round(totalMs - info.gridMs),
      s_grid_ms: round(info.gridMs),
      route_name: info.route?.name,
      upstream_cluster: info.clusterName || undefined,
      upstream_host: info.upstreamHost?.key,
      downstream_remote_address: `${info.socket.remoteAddress}:${info.socket.remotePort}`,
      x_forwarded_for: req.headers['x-forwarded-for'],
      user_agent: req.headers['user-agent'],
      request_id: info.requestId || undefined,
      upstream_attempts: info.attempts,
      retry_not_possible: info.retryNotPossible || undefined,
      response_code_details: info.responseDetail || undefined,
      downstream_peer_uri_san: verifiedPeer(info.socket)?.uriSans[0],
    };
    for (const sink of this.sinks) sink.info(entry);
  }

  flush(): void {
    for (const sink of this.sinks) sink.flush?.();
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
