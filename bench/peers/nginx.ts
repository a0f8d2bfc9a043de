export interface NginxProxyOptions {
  /** Directory for the pid file, error log and temp paths, so nginx needs nothing from /var. */
  dir: string;
  listenPort: number;
  upstreamPorts: readonly number[];
  /** Retry a failed connection on the next server, like the meshlet retry scenario. */
  retry?: boolean;
}

function prelude(dir: string): string {
  // One worker to match one proxy process; the master does no proxying. daemon off keeps nginx a child
  // of the harness so it can be stopped and measured.
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events {
    worker_connections 4096;
}
`;
}

function tempPaths(dir: string): string {
  return `    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
`;
}

/** nginx as a reverse proxy with an upstream keep-alive pool, the configuration every nginx sidecar uses. */
export function nginxProxyConfig(o: NginxProxyOptions): string {
  // max_fails=0: never take a server out of rotation, as meshlet has no outlier detection in the retry
  // scenario; otherwise nginx would stop sending to the bad endpoint and measure something else.
  const servers = o.upstreamPorts.map((p) => `        server 127.0.0.1:${p} max_fails=0;\n`).join('');
  const retry = o.retry ? '            proxy_next_upstream error timeout http_502 http_503;\n            proxy_next_upstream_tries 3;\n' : '';
  return `${prelude(o.dir)}http {
    access_log off;
${tempPaths(o.dir)}    keepalive_timeout 120s;
    keepalive_requests 1000000;
    upstream upstream {
${servers}        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:${o.listenPort};
        location / {
            proxy_pass http://upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
${retry}        }
    }
}
`;
}

/** nginx serving the same 64-byte body as the Node upstream, for `--upstream nginx`. */
export function nginxStaticUpstreamConfig(o: { dir: string; listenPort: number; body: string }): string {
  // `return` text interpolates $variables; the bench body has none, and escaping one would need a map.
  if (o.body.includes('$')) throw new Error('nginx static body must not contain "$"');
  const escaped = o.body.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `${prelude(o.dir)}http {
    access_log off;
${tempPaths(o.dir)}    keepalive_timeout 120s;
    keepalive_requests 1000000;
    default_type text/plain;
    server {
        listen 127.0.0.1:${o.listenPort};
        location / {
            return 200 "${escaped}";
        }
    }
}
`;
}
