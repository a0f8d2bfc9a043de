import { isIP } from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * `HOST:PORT[,HOST:PORT...]` (an IPv6 address in brackets: `[::1]:18000`) → the endpoints in
 * order, or a message saying what is wrong with which entry.
 */
export function parseHostPorts(text: string): HostPort[] | string {
  const entries = text.split(',').map((e) => e.trim());
  const endpoints: HostPort[] = [];
  for (const entry of entries) {
    const match = /^\[([^\]]+)\]:(\d+)$/.exec(entry) ?? /^([^:[\]]+):(\d+)$/.exec(entry);
    if (match === null) return `"${entry}" is not HOST:PORT (an IPv6 address goes in brackets: [::1]:18000)`;
    const [, host, portText] = match as unknown as [string, string, string];
    const port = Number(portText);
    if (port < 1 || port > 65535) return `"${entry}": ${portText} is not a port (1-65535)`;
    if (entry.startsWith('[') && isIP(host) !== 6) return `"${entry}": ${host} is not an IPv6 address`;
    endpoints.push({ host, port });
  }
  return endpoints;
}
