import fc from 'fast-check';
import t from 'tap';
import { connectionNominated, copyEndToEnd } from '../../../proxy/listener/hop-by-hop';

// Property tests for proxy/listener/hop-by-hop.ts against what it documents (RFC 9110 §7.6.1 as
// Envoy applies it): hop-by-hop headers and those a Connection header nominates are not
// forwarded, except `te: trailers`; names come out lowercase; HTTP/2 pseudo-headers are dropped
// but `:authority`, which becomes `host`; the result says whether Transfer-Encoding was present.

const RUNS = 2000;

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer'];
const HOP = new Set(HOP_BY_HOP);

// ---------------------------------------------------------------------------------------------
// Generators

/** End-to-end names, few enough that Connection often nominates one that is present. */
const E2E_NAMES = [
  'host',
  'content-type',
  'content-length',
  'accept',
  'x-a',
  'x-b',
  'x-request-id',
  'cookie',
  'authorization',
  'x-forwarded-for',
  'grpc-timeout',
  'trailers',
];
const randomToken = fc
  .stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)
  .filter((n) => !HOP.has(n.toLowerCase()));
const e2eName = fc.mixedCase(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...E2E_NAMES) }, { weight: 1, arbitrary: randomToken }));

const printable = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength });
const valueArb = fc.oneof(
  fc.constant(''),
  printable(16),
  fc.array(printable(6), { minLength: 2, maxLength: 4 }).map((parts) => parts.join(',')),
);

/** A Connection value: a comma list of options and nominated names, any case, odd spacing, empty members. */
const connectionToken = fc.oneof(
  { weight: 3, arbitrary: e2eName },
  { weight: 2, arbitrary: fc.mixedCase(fc.constantFrom('close', 'keep-alive', 'upgrade', 'te', 'transfer-encoding')) },
  { weight: 1, arbitrary: fc.constant('') },
);
const connectionValue = fc
  .array(fc.tuple(fc.constantFrom('', ' ', '\t', '  '), connectionToken, fc.constantFrom('', ' ', '\t')), { minLength: 1, maxLength: 4 })
  .map((items) => items.map(([before, token, after]) => before + token + after).join(','));

const teValue = fc.constantFrom('trailers', 'Trailers', ' trailers ', 'TRAILERS', 'gzip, trailers', 'trailers, deflate', 'deflate', 'gzip', '');

type Entry = [name: string, value: string];

const entryArb: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(e2eName, valueArb) },
  { weight: 2, arbitrary: fc.tuple(fc.mixedCase(fc.constant('connection')), connectionValue) },
  { weight: 1, arbitrary: fc.tuple(fc.mixedCase(fc.constant('te')), teValue) },
  { weight: 1, arbitrary: fc.tuple(fc.mixedCase(fc.constantFrom('keep-alive', 'proxy-connection', 'upgrade', 'trailer')), valueArb) },
  { weight: 1, arbitrary: fc.tuple(fc.mixedCase(fc.constant('transfer-encoding')), fc.constantFrom('chunked', 'gzip, chunked', 'identity')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(':method', ':path', ':scheme', ':authority', ':status', ':protocol'), valueArb) },
);

/** A raw header list, each entry as string or (as undici and HTTP/2 give them) Buffer. */
const rawArb = fc.array(fc.tuple(entryArb, fc.boolean()), { maxLength: 12 }).map((entries) => ({
  entries: entries.map(([entry]) => entry),
  raw: entries.flatMap(([[n, v], asBuffer]): (string | Buffer)[] => (asBuffer ? [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')] : [n, v])),
}));

// ---------------------------------------------------------------------------------------------
// The specification, written out

/** Names every Connection header nominates (its options close and keep-alive nominate nothing). */
function nominatedBy(entries: readonly Entry[]): Set<string> {
  const names = new Set<string>();
  for (const [n, v] of entries) {
    if (n.toLowerCase() !== 'connection') continue;
    for (const member of v.split(',')) {
      const name = member.trim().toLowerCase();
      if (name !== '' && name !== 'close' && name !== 'keep-alive') names.add(name);
    }
  }
  return names;
}

const isTrailers = (value: string): boolean => value.trim().toLowerCase() === 'trailers';

/**
 * What copyEndToEnd should output. `teSurvivesNomination`: whether `te: trailers` is forwarded
 * when Connection nominates te too (Envoy: yes; meshlet today: no).
 */
/** Envoy's Utility::sanitizeConnectionHeader keeps `te: trailers` even when Connection nominates te (RFC 9110 §10.1.4 has senders of TE nominate it). */
function expectedOutput(entries: readonly Entry[]): string[] {
  const nominated = nominatedBy(entries);
  const out: string[] = [];
  for (const [n, v] of entries) {
    const lower = n.toLowerCase();
    if (lower === 'te') {
      if (isTrailers(v)) out.push('te', 'trailers');
      continue;
    }
    if (HOP.has(lower)) continue;
    const name = lower === ':authority' ? 'host' : lower;
    if (name.startsWith(':') || nominated.has(name)) continue;
    out.push(name, v);
  }
  return out;
}

const same = (actual: unknown, expected: unknown, what: string): void => {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
};

// ---------------------------------------------------------------------------------------------
// Properties

t.test('property: no hop-by-hop (but te: trailers), nominated or pseudo name comes out; names are lowercase', async () => {
  fc.assert(
    fc.property(rawArb, ({ entries, raw }) => {
      const out: string[] = [];
      copyEndToEnd(raw, out);
      const nominated = nominatedBy(entries);
      const authority = entries.filter(([n]) => n === ':authority').map(([, v]) => v);
      for (let i = 0; i < out.length; i += 2) {
        const name = out[i]!;
        const value = out[i + 1]!;
        if (name !== name.toLowerCase()) throw new Error(`name not lowercase: ${name}`);
        if (name.startsWith(':')) throw new Error(`pseudo-header forwarded: ${name}`);
        if (name === 'te' ? value !== 'trailers' : HOP.has(name)) throw new Error(`hop-by-hop forwarded: ${name}: ${value}`);
        if (nominated.has(name) && name !== 'te') throw new Error(`${name} forwarded though Connection nominates it`);
      }
      // :authority arrives as host (when host is not nominated).
      if (!nominated.has('host')) {
        const hosts = out.filter((_, i) => i % 2 === 1 && out[i - 1] === 'host');
        for (const a of authority) if (!hosts.includes(a)) throw new Error(`:authority ${a} is not a host: ${JSON.stringify(out)}`);
      }
    }),
    { numRuns: RUNS },
  );
});

t.test('property: every other header comes out, lowercase, with its value, in order', async () => {
  fc.assert(
    fc.property(rawArb, ({ entries, raw }) => {
      const out: string[] = [];
      copyEndToEnd(raw, out);
      same(out, expectedOutput(entries), 'output');
    }),
    { numRuns: RUNS },
  );
});

t.test('property: the result is true iff a Transfer-Encoding header was present (any case)', async () => {
  fc.assert(
    fc.property(rawArb, ({ entries, raw }) => {
      const present = entries.some(([n]) => n.toLowerCase() === 'transfer-encoding');
      if (copyEndToEnd(raw, []) !== present) throw new Error(`returned ${!present} with Transfer-Encoding ${present ? '' : 'not '}present`);
    }),
    { numRuns: RUNS },
  );
});

t.test('property: what `out` held before is kept as is, even when Connection nominates its names', async () => {
  const prefixArb = fc.array(fc.tuple(e2eName.map((n) => n.toLowerCase()), valueArb), { maxLength: 4 }).map((pairs) => pairs.flat());
  fc.assert(
    fc.property(prefixArb, rawArb, (prefix, { raw }) => {
      const out = [...prefix];
      const chunked = copyEndToEnd(raw, out);
      const alone: string[] = [];
      same(chunked, copyEndToEnd(raw, alone), 'result');
      same(out, [...prefix, ...alone], 'out');
    }),
    { numRuns: 1000 },
  );
});

t.test('property: Buffers and strings give the same output', async () => {
  fc.assert(
    fc.property(rawArb, ({ entries, raw }) => {
      const fromMixed: string[] = [];
      const fromStrings: string[] = [];
      same(copyEndToEnd(raw, fromMixed), copyEndToEnd(entries.flat(), fromStrings), 'result');
      same(fromMixed, fromStrings, 'output');
    }),
    { numRuns: 1000 },
  );
});

t.test('property: connectionNominated is the set of listed names but close and keep-alive', async () => {
  fc.assert(
    fc.property(connectionValue, (value) => {
      const expected = nominatedBy([['connection', value]]);
      const actual = connectionNominated(value);
      same(actual === undefined ? undefined : [...actual].sort(), expected.size === 0 ? undefined : [...expected].sort(), JSON.stringify(value));
    }),
    { numRuns: 1000 },
  );
});
