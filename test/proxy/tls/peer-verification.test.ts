import t from 'tap';
import type { ConfigIssue } from '../../../xds/config-error';
import { compileStringMatcher } from '../../../proxy/router/string-matcher';
import type { StringMatcher } from '../../../proxy/router/route-configuration';
import { verifyPeer, type HandshakePeer, type PeerRequirement } from '../../../proxy/tls/peer-verification';
import type { SanMatcher } from '../../../proxy/tls/tls-config';

const SPIFFE_CLIENT = 'spiffe://mesh.test/ns/default/sa/client';

/** A SAN matcher as the TLS context parser builds it: Envoy's StringMatcher, compiled. */
function san(type: SanMatcher['type'], config: StringMatcher): SanMatcher {
  const issues: ConfigIssue[] = [];
  const matcher = compileStringMatcher(config, 'matcher', issues);
  if (matcher === undefined || issues.length > 0) throw new Error(`bad matcher ${JSON.stringify(config)}: ${JSON.stringify(issues)}`);
  return { type, matcher };
}

function peer(overrides: Partial<HandshakePeer> = {}): HandshakePeer {
  return { hasCertificate: true, verifyError: undefined, uriSans: [SPIFFE_CLIENT], dnsSans: [], ...overrides };
}

function requirement(overrides: Partial<PeerRequirement> = {}): PeerRequirement {
  return { required: true, verifyChain: true, sanMatchers: [], ...overrides };
}

t.test('no certificate: refused when one is required, accepted when optional', async (t) => {
  const none = peer({ hasCertificate: false, uriSans: [] });
  t.same(verifyPeer(none, requirement({ required: true })), { ok: false, reason: 'no_cert', detail: 'the peer presented no certificate' });
  t.same(verifyPeer(none, requirement({ required: false })), { ok: true });
  // Optional client certificates (PERMISSIVE): the SAN matchers apply to certificates that are sent, not to their absence.
  t.same(verifyPeer(none, requirement({ required: false, sanMatchers: [san('URI', { exact: SPIFFE_CLIENT })] })), { ok: true });
});

t.test('a verified chain with no SAN matchers is accepted', async (t) => {
  t.same(verifyPeer(peer(), requirement()), { ok: true });
  t.same(verifyPeer(peer({ uriSans: [], dnsSans: [] }), requirement()), { ok: true });
});

t.test('each OpenSSL verify error maps to its reason, with the code in the detail', async (t) => {
  const cases: [code: string, reason: string][] = [
    ['CERT_HAS_EXPIRED', 'expired'],
    ['CERT_NOT_YET_VALID', 'not_yet_valid'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted_ca'],
    ['UNABLE_TO_GET_ISSUER_CERT', 'untrusted_ca'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'untrusted_ca'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'untrusted_ca'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'untrusted_ca'],
    ['CERT_UNTRUSTED', 'untrusted_ca'],
    ['CERT_SIGNATURE_FAILURE', 'untrusted_ca'],
    ['CERT_CHAIN_TOO_LONG', 'untrusted_ca'],
    ['INVALID_PURPOSE', 'invalid_cert'],
    ['CERT_REVOKED', 'invalid_cert'],
    ['INVALID_CA', 'invalid_cert'],
  ];
  for (const [code, reason] of cases) {
    const verdict = verifyPeer(peer({ verifyError: code }), requirement());
    t.match(verdict, { ok: false, reason }, code);
    t.ok(!verdict.ok && verdict.detail.includes(`(${code})`), `${code}: the detail names the code`);
  }
  t.same(verifyPeer(peer({ verifyError: 'CERT_HAS_EXPIRED' }), requirement()), {
    ok: false,
    reason: 'expired',
    detail: 'the peer certificate has expired (CERT_HAS_EXPIRED)',
  });
  t.same(verifyPeer(peer({ verifyError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }), requirement()), {
    ok: false,
    reason: 'untrusted_ca',
    detail: 'the peer certificate is not signed by a trusted CA (UNABLE_TO_GET_ISSUER_CERT_LOCALLY)',
  });
});

t.test('without a trusted CA (verifyChain false) chain errors are ignored, as Envoy accepts any certificate', async (t) => {
  for (const code of ['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'INVALID_PURPOSE']) {
    t.same(verifyPeer(peer({ verifyError: code }), requirement({ verifyChain: false })), { ok: true }, code);
  }
  // ... but the SAN matchers still apply.
  t.match(
    verifyPeer(peer({ verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), requirement({ verifyChain: false, sanMatchers: [san('URI', { exact: 'spiffe://x/y' })] })),
    { ok: false, reason: 'san_mismatch' },
  );
});

t.test('typed SAN matchers look only at SANs of their type', async (t) => {
  const both = peer({ uriSans: ['spiffe://mesh.test/ns/default/sa/api'], dnsSans: ['api.mesh.test'] });
  t.same(verifyPeer(both, requirement({ sanMatchers: [san('URI', { exact: 'spiffe://mesh.test/ns/default/sa/api' })] })), { ok: true });
  t.same(verifyPeer(both, requirement({ sanMatchers: [san('DNS', { exact: 'api.mesh.test' })] })), { ok: true });
  // The same value under the other type does not count.
  t.match(verifyPeer(both, requirement({ sanMatchers: [san('URI', { exact: 'api.mesh.test' })] })), { ok: false, reason: 'san_mismatch' });
  t.match(verifyPeer(both, requirement({ sanMatchers: [san('DNS', { exact: 'spiffe://mesh.test/ns/default/sa/api' })] })), {
    ok: false,
    reason: 'san_mismatch',
  });
});

t.test('legacy match_subject_alt_names (no type) match a SAN of any type', async (t) => {
  const dnsOnly = peer({ uriSans: [], dnsSans: ['db.internal'] });
  const uriOnly = peer({ uriSans: [SPIFFE_CLIENT], dnsSans: [] });
  t.same(verifyPeer(dnsOnly, requirement({ sanMatchers: [san(undefined, { exact: 'db.internal' })] })), { ok: true });
  t.same(verifyPeer(uriOnly, requirement({ sanMatchers: [san(undefined, { exact: SPIFFE_CLIENT })] })), { ok: true });
  t.match(verifyPeer(uriOnly, requirement({ sanMatchers: [san(undefined, { exact: 'db.internal' })] })), { ok: false, reason: 'san_mismatch' });
});

t.test('exact and prefix matchers; any one matching SAN and any one matcher suffice', async (t) => {
  const prefix = san('URI', { prefix: 'spiffe://mesh.test/ns/default/' });
  t.same(verifyPeer(peer(), requirement({ sanMatchers: [prefix] })), { ok: true });
  t.match(verifyPeer(peer({ uriSans: ['spiffe://mesh.test/ns/prod/sa/client'] }), requirement({ sanMatchers: [prefix] })), {
    ok: false,
    reason: 'san_mismatch',
  });
  // exact is whole-value: a longer SAN does not match.
  t.match(verifyPeer(peer({ uriSans: [`${SPIFFE_CLIENT}-2`] }), requirement({ sanMatchers: [san('URI', { exact: SPIFFE_CLIENT })] })), {
    ok: false,
    reason: 'san_mismatch',
  });
  // Exact is case-sensitive unless ignore_case.
  t.match(verifyPeer(peer({ dnsSans: ['API.mesh.test'] }), requirement({ sanMatchers: [san('DNS', { exact: 'api.mesh.test' })] })), {
    ok: false,
    reason: 'san_mismatch',
  });
  t.same(verifyPeer(peer({ dnsSans: ['API.mesh.test'] }), requirement({ sanMatchers: [san('DNS', { exact: 'api.mesh.test', ignore_case: true })] })), {
    ok: true,
  });
  // The second SAN matches the second matcher.
  const many = peer({ uriSans: ['spiffe://other/ns/a/sa/b', SPIFFE_CLIENT], dnsSans: [] });
  t.same(verifyPeer(many, requirement({ sanMatchers: [san('DNS', { exact: 'nope' }), san('URI', { exact: SPIFFE_CLIENT })] })), { ok: true });
});

t.test('the chain is checked before the SANs', async (t) => {
  const mismatching = requirement({ sanMatchers: [san('URI', { exact: 'spiffe://mesh.test/ns/default/sa/someone-else' })] });
  t.match(verifyPeer(peer({ verifyError: 'CERT_HAS_EXPIRED' }), mismatching), { ok: false, reason: 'expired' });
  t.match(verifyPeer(peer({ verifyError: 'SELF_SIGNED_CERT_IN_CHAIN' }), mismatching), { ok: false, reason: 'untrusted_ca' });
  t.match(verifyPeer(peer(), mismatching), { ok: false, reason: 'san_mismatch' });
  // And presence before both.
  t.match(verifyPeer(peer({ hasCertificate: false, verifyError: 'CERT_HAS_EXPIRED' }), mismatching), { ok: false, reason: 'no_cert' });
});

t.test("a SAN mismatch's detail names the peer's SANs", async (t) => {
  const matchers = [san('URI', { exact: 'spiffe://mesh.test/ns/default/sa/server' })];
  t.same(verifyPeer(peer({ uriSans: [SPIFFE_CLIENT, 'spiffe://mesh.test/x'], dnsSans: ['client.mesh.test'] }), requirement({ sanMatchers: matchers })), {
    ok: false,
    reason: 'san_mismatch',
    detail: `no subject alt name of the peer matches (peer has URI:${SPIFFE_CLIENT}, URI:spiffe://mesh.test/x, DNS:client.mesh.test)`,
  });
  t.same(verifyPeer(peer({ uriSans: [], dnsSans: [] }), requirement({ sanMatchers: matchers })), {
    ok: false,
    reason: 'san_mismatch',
    detail: 'no subject alt name of the peer matches (peer has none)',
  });
});
