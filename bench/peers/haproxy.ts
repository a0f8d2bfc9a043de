export interface HaproxyOptions {
  listenPort: number;
  upstreamPorts: readonly number[];
  /** Retry a failed connection on another server, like the meshlet retry scenario. */
  retry?: boolean;
}

/**
 * HAProxy with one thread (one core, like every peer) and `http-reuse always`, HAProxy's equivalent
 * of an upstream keep-alive pool shared across client connections. No `check` on servers: like meshlet
 * in the retry scenario, nothing takes the bad endpoint out of rotation.
 */
export function haproxyConfig(o: HaproxyOptions): string {
  const servers = o.upstreamPorts.map((p, i) => `    server up${i} 127.0.0.1:${p}\n`).join('');
  const retry = o.retry ? '    retries 2\n    retry-on conn-failure empty-response 502 503\n    option redispatch 1\n' : '';
  return `global
    nbthread 1
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 120s
    timeout server 30s
    timeout http-keep-alive 120s
    option http-keep-alive
    http-reuse always

frontend bench
    bind 127.0.0.1:${o.listenPort}
    default_backend upstream

backend upstream
    balance roundrobin
${retry}${servers}`;
}
