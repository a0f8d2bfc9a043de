import { spawnSync } from 'node:child_process';
import { commandLine } from './command-args';
import { applyRefusal, iptablesScript } from './kubernetes/iptables-rules';
import { ALWAYS_EXCLUDED_INBOUND, redirectOptionsFromFlags } from './kubernetes/redirect-options';
import { SIDECAR_DEFAULTS } from './modes/sidecar-defaults';

const USAGE = `Usage: meshlet iptables --print | --apply [options]

Redirects a pod's TCP traffic through its meshlet sidecar, as Istio's istio-iptables does: inbound
TCP to the sidecar's inbound listener, the app's outbound TCP to its outbound listener. The rules
live in the nat table, in chains MESHLET_INBOUND, MESHLET_IN_REDIRECT, MESHLET_OUTPUT and
MESHLET_REDIRECT. The pod's init container runs 'meshlet iptables --apply' (see 'meshlet inject').

Not redirected: the proxy's own traffic (its uid and gid: its upstreams and the control plane,
so the control plane's port needs no exclusion), the app's loopback traffic (to localhost or to
its own pod address, on lo), UDP (DNS) and anything excluded below. IPv4 only.

  --print                          write the iptables-restore script to stdout
  --apply                          load it with '<restore-command> --noflush' (as root, with NET_ADMIN
                                   and NET_RAW: the init container), and print it
  --proxy-uid <uid>                the proxy's user (default: ${SIDECAR_DEFAULTS.uid})
  --proxy-gid <gid>                the proxy's group (default: the uid)
  --inbound-port <port>            the sidecar's inbound listener (default: ${SIDECAR_DEFAULTS.inboundPort})
  --outbound-port <port>           the sidecar's outbound listener (default: ${SIDECAR_DEFAULTS.outboundPort})
  --exclude-inbound-ports <list>   ports that reach the pod directly, comma-separated; always added:
                                   ${ALWAYS_EXCLUDED_INBOUND.join(', ')} (the sidecar's admin and health ports)
  --exclude-outbound-ports <list>  destination ports that bypass the sidecar
  --exclude-outbound-cidrs <list>  destination IPv4 CIDRs that bypass the sidecar (a.b.c.d/n)
  --restore-command <cmd>          default: iptables-restore (iptables-legacy-restore for nodes
                                   on the legacy backend)
  -h, --help                       show this help
`;

const { parse, usageError } = commandLine('iptables', USAGE);

export async function iptablesCommand(args: string[]): Promise<number> {
  const values = parse(args, {
    print: { type: 'boolean', default: false },
    apply: { type: 'boolean', default: false },
    'proxy-uid': { type: 'string' },
    'proxy-gid': { type: 'string' },
    'inbound-port': { type: 'string' },
    'outbound-port': { type: 'string' },
    'exclude-inbound-ports': { type: 'string' },
    'exclude-outbound-ports': { type: 'string' },
    'exclude-outbound-cidrs': { type: 'string' },
    'restore-command': { type: 'string', default: 'iptables-restore' },
  });
  if (typeof values === 'number') return values;
  if (values.print === values.apply) return usageError('give one of --print or --apply');
  const options = redirectOptionsFromFlags(values);
  if ('error' in options) return usageError(options.error);
  const script = iptablesScript(options);
  if (values.print) {
    process.stdout.write(script);
    return 0;
  }

  const refusal = applyRefusal(process.getuid?.());
  if (refusal !== undefined) {
    process.stderr.write(`meshlet iptables --apply: ${refusal}. Nothing was changed; --print shows the rules.\n`);
    return 1;
  }
  const restore = values['restore-command'];
  const result = spawnSync(restore, ['--noflush'], { input: script, encoding: 'utf8' });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    process.stderr.write(`meshlet iptables --apply: ${restore} not found: install iptables (the meshlet image has it). Nothing was changed.\n`);
    return 1;
  }
  if (result.error !== undefined || result.status !== 0) {
    const why = result.error?.message ?? `exit ${result.status ?? result.signal}: ${result.stderr.trim()}`;
    process.stderr.write(`meshlet iptables --apply: ${restore} failed (${why})\n`);
    return 1;
  }
  // In the init container's log: what the pod's traffic goes through.
  process.stdout.write(script);
  return 0;
}
