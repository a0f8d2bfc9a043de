import { isIP } from 'node:net';
import type { ConfigIssue } from '../../xds/config-error';
import { onlyFields } from './field-support';

/** `Address.socket_address` → host and port, with the issues of what meshlet cannot bind or reach. */
export function parseSocketAddress(
  address: any,
  path: string,
  issues: ConfigIssue[],
  options: { allowHostname?: boolean } = {},
): { address: string; port: number } | undefined {
  onlyFields(address, path, ['socket_address'], issues);
  const socket = address?.socket_address;
  if (socket === undefined) {
    issues.push({ path: `${path}.socket_address`, message: 'required' });
    return undefined;
  }
  const at = `${path}.socket_address`;
  onlyFields(socket, at, ['address', 'port_value', 'protocol', 'ipv4_compat'], issues);
  if (socket.protocol !== undefined && socket.protocol !== 'TCP') issues.push({ path: `${at}.protocol`, message: 'only TCP is supported' });
  const host: string = socket.address ?? '';
  if (!options.allowHostname && isIP(host) === 0) issues.push({ path: `${at}.address`, message: `"${host}" is not an IP address` });
  if (socket.port_value === undefined) issues.push({ path: `${at}.port_value`, message: 'required' });
  else if (socket.port_value > 65535) issues.push({ path: `${at}.port_value`, message: `${socket.port_value} is not a port` });
  return { address: host, port: socket.port_value ?? 0 };
}
