import { BlockList, isIP } from 'node:net';
import type { ConfigIssue } from '../../xds/config-error';
import { fieldPath } from '../router/supported-fields';

/** envoy.config.core.v3.CidrRange, decoded. */
export interface CidrRangeConfig {
  readonly address_prefix?: string;
  /** UInt32Value; unset means 0. */
  readonly prefix_len?: number;
}

/** Whether an address, as node reports it, lies in a compiled CidrRange. */
export type AddressMatcher = (address: string) => boolean;

/** A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6; Envoy sees them as IPv4. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

export function compileCidrRange(config: CidrRangeConfig, path: string, issues: ConfigIssue[]): AddressMatcher | undefined {
  const prefix = config.address_prefix ?? '';
  const family = isIP(prefix);
  if (family === 0) {
    issues.push({ path: fieldPath(path, 'address_prefix'), message: `"${prefix}" is not an IPv4 or IPv6 address` });
    return undefined;
  }
  const length = config.prefix_len ?? 0;
  const bits = family === 4 ? 32 : 128;
  if (length > bits) {
    issues.push({ path: fieldPath(path, 'prefix_len'), message: `must be at most ${bits} for an IPv${family} address` });
    return undefined;
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const range = new BlockList();
  range.addSubnet(prefix, length, type);
  return (address) => {
    const ip = IPV4_MAPPED.exec(address)?.[1] ?? address;
    // An IPv4 address never matches an IPv6 range (even ::/0), nor the reverse, as in Envoy.
    return isIP(ip) === family && range.check(ip, type);
  };
}
