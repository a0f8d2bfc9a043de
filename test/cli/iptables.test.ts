/**
 * `meshlet iptables`: the script against expected text, the flags' checks, and --apply through a
 * stand-in restore command (no test runs iptables).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applyRefusal, iptablesScript } from '../../cli/kubernetes/iptables-rules';
import { redirectOptionsFromFlags, type RedirectFlags } from '../../cli/kubernetes/redirect-options';
import type { RedirectOptions } from '../../cli/kubernetes/iptables-rules';
import { MESHLET_BIN, writeTempFile } from '../helpers/proxy-process';

const DEFAULT_SCRIPT = `*nat
:MESHLET_INBOUND - [0:0]
:MESHLET_IN_REDIRECT - [0:0]
:MESHLET_OUTPUT - [0:0]
:MESHLET_REDIRECT - [0:0]
-A PREROUTING -p tcp -j MESHLET_INBOUND
-A OUTPUT -p tcp -j MESHLET_OUTPUT
-A MESHLET_INBOUND -p tcp --dport 15000 -j RETURN
-A MESHLET_INBOUND -p tcp --dport 15021 -j RETURN
-A MESHLET_INBOUND -p tcp -j MESHLET_IN_REDIRECT
-A MESHLET_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A MESHLET_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1337 -j MESHLET_IN_REDIRECT
-A MESHLET_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner 1337 -j MESHLET_IN_REDIRECT
-A MESHLET_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A MESHLET_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A MESHLET_OUTPUT -o lo -j RETURN
-A MESHLET_OUTPUT -j MESHLET_REDIRECT
-A MESHLET_REDIRECT -p tcp -j REDIRECT --to-ports 15001
COMMIT
`;

function options(flags: RedirectFlags): RedirectOptions {
  const result = redirectOptionsFromFlags(flags);
  if ('error' in result) throw new Error(result.error);
  return result;
}

function flagError(flags: RedirectFlags): string {
  const result = redirectOptionsFromFlags(flags);
  return 'error' in result ? result.error : 'no error';
}

function meshlet(...args: string[]) {
  const r = spawnSync(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('defaults: inbound to 15006 but for admin and health, outbound to 15001 but for the proxy and loopback', async (t) => {
  t.equal(iptablesScript(options({})), DEFAULT_SCRIPT);
});

t.test('exclusions and other ports, users and groups', async (t) => {
  const script = iptablesScript(
    options({
      'proxy-uid': '2000',
      'proxy-gid': '3000',
      'inbound-port': '16006',
      'outbound-port': '16001',
      'exclude-inbound-ports': '8081, 15021,9090',
      'exclude-outbound-ports': '5432,6379',
      'exclude-outbound-cidrs': '10.96.0.1,169.254.0.0/16',
    }),
  );
  t.equal(
    script,
    `*nat
:MESHLET_INBOUND - [0:0]
:MESHLET_IN_REDIRECT - [0:0]
:MESHLET_OUTPUT - [0:0]
:MESHLET_REDIRECT - [0:0]
-A PREROUTING -p tcp -j MESHLET_INBOUND
-A OUTPUT -p tcp -j MESHLET_OUTPUT
-A MESHLET_INBOUND -p tcp --dport 15000 -j RETURN
-A MESHLET_INBOUND -p tcp --dport 15021 -j RETURN
-A MESHLET_INBOUND -p tcp --dport 8081 -j RETURN
-A MESHLET_INBOUND -p tcp --dport 9090 -j RETURN
-A MESHLET_INBOUND -p tcp -j MESHLET_IN_REDIRECT
-A MESHLET_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006
-A MESHLET_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 2000 -j MESHLET_IN_REDIRECT
-A MESHLET_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner 3000 -j MESHLET_IN_REDIRECT
-A MESHLET_OUTPUT -m owner --uid-owner 2000 -j RETURN
-A MESHLET_OUTPUT -m owner --gid-owner 3000 -j RETURN
-A MESHLET_OUTPUT -o lo -j RETURN
-A MESHLET_OUTPUT -d 10.96.0.1/32 -j RETURN
-A MESHLET_OUTPUT -d 169.254.0.0/16 -j RETURN
-A MESHLET_OUTPUT -p tcp --dport 5432 -j RETURN
-A MESHLET_OUTPUT -p tcp --dport 6379 -j RETURN
-A MESHLET_OUTPUT -j MESHLET_REDIRECT
-A MESHLET_REDIRECT -p tcp -j REDIRECT --to-ports 16001
COMMIT
`,
  );
});

t.test('the gid defaults to the uid', async (t) => {
  t.match(iptablesScript(options({ 'proxy-uid': '4242' })), '--gid-owner 4242');
});

t.test('bad flags are named, with what was expected', async (t) => {
  t.match(flagError({ 'proxy-uid': '0' }), /--proxy-uid must be the proxy's non-root uid .* got "0"/);
  t.match(flagError({ 'proxy-uid': 'meshlet' }), '--proxy-uid must be');
  t.match(flagError({ 'proxy-gid': '-1' }), '--proxy-gid must be');
  t.match(flagError({ 'inbound-port': '70000' }), '--inbound-port must be a port number (1-65535), got "70000"');
  t.match(flagError({ 'outbound-port': '' }), '--outbound-port must be a port number');
  t.match(flagError({ 'outbound-port': '15006' }), '--inbound-port and --outbound-port must differ (both 15006)');
  t.match(flagError({ 'exclude-inbound-ports': '80,http' }), '--exclude-inbound-ports: "http" is not a port number (1-65535)');
  t.match(flagError({ 'exclude-outbound-ports': '0' }), '--exclude-outbound-ports: "0" is not a port number');
  t.match(flagError({ 'exclude-outbound-cidrs': '10.0.0.0/33' }), '--exclude-outbound-cidrs: "10.0.0.0/33" is not an IPv4 address or CIDR');
  t.match(flagError({ 'exclude-outbound-cidrs': 'fd00::/8' }), 'IPv6 is not redirected');
  t.match(flagError({ 'exclude-outbound-cidrs': '10.0.0.0/8/1' }), 'is not an IPv4 address or CIDR');
});

t.test('--apply is for root only', async (t) => {
  t.equal(applyRefusal(0), undefined);
  t.match(applyRefusal(1337), /must run as root \(uid 0, with NET_ADMIN and NET_RAW\), not uid 1337/);
  t.match(applyRefusal(undefined), 'Linux only');
});

t.test('meshlet iptables --print writes the script; one of --print and --apply is required', async (t) => {
  const printed = meshlet('iptables', '--print', '--exclude-outbound-ports', '5432');
  t.equal(printed.code, 0, printed.stderr);
  t.equal(printed.stdout, iptablesScript(options({ 'exclude-outbound-ports': '5432' })));
  for (const args of [[], ['--print', '--apply']]) {
    const r = meshlet('iptables', ...args);
    t.equal(r.code, 2);
    t.match(r.stderr, 'give one of --print or --apply');
  }
  const bad = meshlet('iptables', '--print', '--exclude-outbound-cidrs', 'everything');
  t.equal(bad.code, 2);
  t.match(bad.stderr, 'meshlet iptables: --exclude-outbound-cidrs: "everything" is not an IPv4 address');
  t.equal(bad.stdout, '', 'nothing printed');
});

// A stand-in for iptables-restore: records its arguments and input, exits with $EXIT.
function fakeRestore(exitCode: number): { command: string; args: () => string; input: () => string } {
  const command = writeTempFile('fake-iptables-restore', `#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\ncat > "$(dirname "$0")/input"\necho "line 3: bad rule" >&2\nexit ${exitCode}\n`);
  chmodSync(command, 0o755);
  return {
    command,
    args: () => readFileSync(join(dirname(command), 'args'), 'utf8'),
    input: () => readFileSync(join(dirname(command), 'input'), 'utf8'),
  };
}

t.test('--apply loads the script with <restore-command> --noflush, or says why not', async (t) => {
  const ok = fakeRestore(0);
  const applied = meshlet('iptables', '--apply', '--restore-command', ok.command);
  if (process.getuid!() !== 0) {
    t.equal(applied.code, 1);
    t.match(applied.stderr, 'must run as root');
    return;
  }
  t.equal(applied.code, 0, applied.stderr);
  t.equal(ok.args(), '--noflush\n');
  t.equal(ok.input(), DEFAULT_SCRIPT);
  t.equal(applied.stdout, DEFAULT_SCRIPT, 'printed too, for the init container log');

  const failing = meshlet('iptables', '--apply', '--restore-command', fakeRestore(2).command);
  t.equal(failing.code, 1);
  t.match(failing.stderr, /failed \(exit 2: line 3: bad rule\)/);

  const missing = meshlet('iptables', '--apply', '--restore-command', '/nonexistent/iptables-restore');
  t.equal(missing.code, 1);
  t.match(missing.stderr, '/nonexistent/iptables-restore not found: install iptables (the meshlet image has it). Nothing was changed.');
});
