import fc from 'fast-check';
import t from 'tap';
import { selectFilterChain, type ConnectionFacts, type FilterChainMatch } from '../../../proxy/listener/filter-chain-match';

interface Chain {
  readonly name: string;
  readonly match: FilterChainMatch;
}

function chain(name: string, serverNames: readonly string[] = [], transportProtocol?: string): Chain {
  return { name, match: { serverNames, transportProtocol } };
}

const tls = (serverName?: string): ConnectionFacts => ({ transportProtocol: 'tls', serverName });
const plain: ConnectionFacts = { transportProtocol: 'raw_buffer', serverName: undefined };

function selected(chains: readonly Chain[], facts: ConnectionFacts): string | undefined {
  return selectFilterChain(chains, facts)?.name;
}

t.test('an exact server name beats a wildcard, in any order', async (t) => {
  const exact = chain('exact', ['api.example.com']);
  const wildcard = chain('wildcard', ['*.example.com']);
  const any = chain('any');
  t.equal(selected([wildcard, any, exact], tls('api.example.com')), 'exact');
  t.equal(selected([exact, wildcard, any], tls('api.example.com')), 'exact');
  t.equal(selected([exact, wildcard, any], tls('web.example.com')), 'wildcard');
  t.equal(selected([exact, wildcard, any], tls('api.example.org')), 'any', 'no server name matches: the chain without server_names');
});

t.test('the longer wildcard suffix wins', async (t) => {
  const chains = [chain('com', ['*.com']), chain('example', ['*.example.com']), chain('b', ['*.b.example.com'])];
  t.equal(selected(chains, tls('a.b.example.com')), 'b');
  t.equal(selected(chains, tls('x.y.a.b.example.com')), 'b', 'a wildcard matches at any depth');
  t.equal(selected(chains, tls('c.example.com')), 'example');
  t.equal(selected(chains, tls('b.example.com')), 'example', '*.b.example.com does not match b.example.com itself');
  t.equal(selected(chains, tls('example.com')), 'com');
  t.equal(selected(chains.slice(1), tls('example.com')), undefined, '*.example.com does not match example.com');
});

t.test('one chain may list several server names', async (t) => {
  const chains = [chain('ab', ['a.example.com', 'b.example.com']), chain('wild', ['*.example.com'])];
  t.equal(selected(chains, tls('b.example.com')), 'ab');
  t.equal(selected(chains, tls('c.example.com')), 'wild');
});

t.test('without SNI only chains without server_names are candidates', async (t) => {
  const named = chain('named', ['api.example.com']);
  const wildcard = chain('wildcard', ['*.example.com']);
  t.equal(selected([named, wildcard, chain('any')], tls(undefined)), 'any');
  t.equal(selected([named, wildcard, chain('any')], tls('')), 'any', 'an empty SNI is no SNI');
  t.equal(selected([named, wildcard], tls(undefined)), undefined);
  t.equal(selected([named, wildcard], plain), undefined);
});

t.test('transport_protocol: exact beats unset; unset matches both', async (t) => {
  const chains = [chain('unset'), chain('tls', [], 'tls')];
  t.equal(selected(chains, tls()), 'tls');
  t.equal(selected(chains, plain), 'unset');
  t.equal(selected([chain('tls', [], 'tls'), chain('raw', [], 'raw_buffer'), chain('unset')], plain), 'raw');
  t.equal(selected([chain('unset')], tls()), 'unset');
  t.equal(selected([chain('unset')], plain), 'unset');
  t.equal(selected([chain('tls', [], 'tls')], plain), undefined);
  t.equal(selected([chain('raw', [], 'raw_buffer')], tls()), undefined);
});

t.test('server names are decided before the transport protocol, without going back', async (t) => {
  // Envoy's order: server names narrow the candidates first; the transport protocol chooses among those.
  const chains = [chain('named-unset', ['api.example.com']), chain('any-tls', [], 'tls')];
  t.equal(selected(chains, tls('api.example.com')), 'named-unset');
  t.equal(selected(chains, tls('web.example.com')), 'any-tls');
  // The named chain takes only plaintext: a TLS connection for that name has no chain, even though
  // a chain without server names would take it (Envoy does not backtrack).
  t.equal(selected([chain('named-raw', ['api.example.com'], 'raw_buffer'), chain('any-tls', [], 'tls')], tls('api.example.com')), undefined);
});

t.test('no chain matches: undefined', async (t) => {
  t.equal(selected([], tls('a.example.com')), undefined);
  t.equal(selected([chain('x', ['x.example.com'])], tls('y.example.com')), undefined);
});

t.test('the SNI is compared case-insensitively (config server names are lowercased by the parser)', async (t) => {
  const chains = [chain('exact', ['api.example.com']), chain('wildcard', ['*.example.com'])];
  t.equal(selected(chains, tls('API.Example.COM')), 'exact');
  t.equal(selected(chains, tls('Web.EXAMPLE.com')), 'wildcard');
});

// ---------------------------------------------------------------------------------------------
// Properties

const NAMES = ['a.b.example.com', 'b.example.com', 'example.com', 'api.example.org', 'x.y'];
const CONFIG_NAMES = ['a.b.example.com', 'b.example.com', '*.b.example.com', '*.example.com', '*.com', 'api.example.org', '*.example.org', '*.y'];

const chainArb = fc.record({
  serverNames: fc.subarray(CONFIG_NAMES, { minLength: 0, maxLength: 3 }),
  transportProtocol: fc.constantFrom(undefined, 'tls', 'raw_buffer'),
});
const chainsArb = fc
  .array(chainArb, { maxLength: 8 })
  .map((matches) => matches.map((match, i) => ({ name: String(i), match })));
const factsArb: fc.Arbitrary<ConnectionFacts> = fc.record({
  transportProtocol: fc.constantFrom('tls' as const, 'raw_buffer' as const),
  serverName: fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(...NAMES),
    fc.constantFrom(...NAMES).map((name) => name.toUpperCase()),
  ),
});

/** The server name matches: listed as such, or one of its `*.` wildcards listed, or no server names at all. */
function serverNameMatches(match: FilterChainMatch, serverName: string | undefined): boolean {
  if (match.serverNames.length === 0) return true;
  if (serverName === undefined || serverName === '') return false;
  const name = serverName.toLowerCase();
  const labels = name.split('.');
  const wildcards = labels.slice(1).map((_, i) => `*.${labels.slice(i + 1).join('.')}`);
  return match.serverNames.some((n) => n === name || wildcards.includes(n));
}

t.test('property: the selected chain always matches the connection', async (t) => {
  fc.assert(
    fc.property(chainsArb, factsArb, (chains, facts) => {
      const picked = selectFilterChain(chains, facts);
      if (picked === undefined) return;
      if (!chains.includes(picked)) throw new Error('selected a chain that is not one of the candidates');
      if (!serverNameMatches(picked.match, facts.serverName)) throw new Error(`chain ${picked.name} ${JSON.stringify(picked.match)} does not match SNI ${facts.serverName}`);
      const tp = picked.match.transportProtocol;
      if (tp !== undefined && tp !== facts.transportProtocol) throw new Error(`chain ${picked.name} is for ${tp}, the connection is ${facts.transportProtocol}`);
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 cases');
});

t.test('property: a chain matching the exact SNI and transport protocol guarantees an exact-SNI selection', async (t) => {
  fc.assert(
    fc.property(chainsArb, factsArb, (chains, facts) => {
      const sni = facts.serverName?.toLowerCase();
      const perfect = chains.some((c) => sni !== undefined && c.match.serverNames.includes(sni) && c.match.transportProtocol === facts.transportProtocol);
      if (!perfect) return;
      const picked = selectFilterChain(chains, facts);
      if (picked === undefined || !picked.match.serverNames.includes(sni!)) throw new Error(`expected a chain listing ${sni}, got ${JSON.stringify(picked)}`);
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 cases');
});
