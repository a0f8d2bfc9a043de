import fc from 'fast-check';
import t from 'tap';
import { compileHeaderMutations } from '../../../proxy/router/header-mutation';
import type { HeaderMutationFields } from '../../../proxy/router/route-configuration';
import type {
  ClusterWeight,
  HeaderAppendAction,
  HeaderValueOption,
  Route,
  RouteConfiguration,
  VirtualHost,
} from '../../../proxy/router/route-configuration';
import { ConfigError } from '../../../xds/config-error';
import { collect, compile, context, request } from './fixtures/helpers';

// Property tests for route header mutations (proxy/router/header-mutation.ts, flat-headers.ts,
// header-formatter.ts, and their use through compileRouteConfiguration + MatchedRoute), against
// Envoy's semantics as the code documents them:
// - one level: removals first, then every condition and value is decided on the headers as they
//   are then, then overwrites, then appends (Envoy's HeaderParser::evaluateHeaders);
// - empty values are dropped unless keep_empty_value;
// - `:`-prefixed and `host` names may be neither added nor removed: a config issue, the rest of
//   the level still compiles;
// - levels: weighted cluster first, then route, virtual host, route configuration, so on
//   overwrite the least specific level wins; most_specific_header_mutations_wins reverses the
//   three (the weighted cluster still goes first), so the route wins.

const RUNS = 1000;

type Flat = string[];
type Level = HeaderMutationFields;

// ---------------------------------------------------------------------------------------------
// Generators

/** Realistic names, few enough that mutations and headers often meet; mixed case. */
const BASE_NAMES = [
  'x-a',
  'x-b',
  'x-c',
  'content-type',
  'accept',
  'x-request-id',
  'cookie',
  'x-forwarded-for',
  'authorization',
  'x-envoy-upstream-service-time',
  'grpc-timeout',
  'x_underscored',
];
const randomToken = fc
  .stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)
  .filter((n) => n.toLowerCase() !== 'host');
const nameArb = fc.mixedCase(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...BASE_NAMES) }, { weight: 1, arbitrary: randomToken }));

const printable = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength });
/** Printable values: empty, plain, comma lists, '%' (escaped in the config, so literal). */
const valueArb = fc.oneof(
  fc.constant(''),
  printable(16),
  fc.array(printable(6), { minLength: 2, maxLength: 4 }).map((parts) => parts.join(',')),
  fc.constantFrom('a%20b', '100%', '%%', '%REQ(x-a)%', ' spaced ', 'text/html, application/json;q=0.9'),
);

/** A header value in config: '%' escaped as '%%', so the header gets `value` literally. */
const literal = (value: string): string => value.replace(/%/g, '%%');

const headerListArb: fc.Arbitrary<Flat> = fc
  .array(fc.tuple(nameArb, valueArb), { maxLength: 10 })
  .map((pairs) => pairs.flatMap(([n, v]) => [n.toLowerCase(), v]));

/** A header list with 0..3 entries named `name` at random places among others. */
const headersWith = (name: string): fc.Arbitrary<Flat> =>
  fc.tuple(headerListArb, fc.array(fc.tuple(valueArb, fc.nat()), { maxLength: 3 })).map(([base, xs]) => {
    const pairs: [string, string][] = [];
    for (let i = 0; i < base.length; i += 2) pairs.push([base[i]!, base[i + 1]!]);
    for (const [v, at] of xs) pairs.splice(at % (pairs.length + 1), 0, [name.toLowerCase(), v]);
    return pairs.flat();
  });

const ACTIONS: readonly HeaderAppendAction[] = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'];

interface Addition {
  key: string;
  value: string;
  action: HeaderAppendAction | undefined;
  keep: boolean;
}
const additionArb = (keyArb: fc.Arbitrary<string>, actions: readonly (HeaderAppendAction | undefined)[] = [undefined, ...ACTIONS]): fc.Arbitrary<Addition> =>
  fc.record({ key: keyArb, value: valueArb, action: fc.constantFrom(...actions), keep: fc.boolean() });

const option = (a: Addition): HeaderValueOption => ({
  header: { key: a.key, value: literal(a.value) },
  ...(a.action === undefined ? {} : { append_action: a.action }),
  ...(a.keep ? { keep_empty_value: true } : {}),
});

interface LevelSpec {
  adds: Addition[];
  removes: string[];
}
const levelArb = (keyArb: fc.Arbitrary<string> = nameArb): fc.Arbitrary<LevelSpec> =>
  fc.record({ adds: fc.array(additionArb(keyArb), { maxLength: 5 }), removes: fc.array(keyArb, { maxLength: 3 }) });

/** A level with nothing naming `name` (in any case). */
const without = (level: LevelSpec, name: string): LevelSpec => ({
  adds: level.adds.filter((a) => a.key.toLowerCase() !== name.toLowerCase()),
  removes: level.removes.filter((r) => r.toLowerCase() !== name.toLowerCase()),
});

const requestFields = (level: LevelSpec): Level => ({
  ...(level.adds.length > 0 ? { request_headers_to_add: level.adds.map(option) } : {}),
  ...(level.removes.length > 0 ? { request_headers_to_remove: level.removes } : {}),
});

const namesOf = (level: LevelSpec): Set<string> =>
  new Set([...level.adds.map((a) => a.key.toLowerCase()), ...level.removes.map((r) => r.toLowerCase())]);

// ---------------------------------------------------------------------------------------------
// Helpers

function compileLevel(level: Level) {
  const { result, issues } = collect((issues) => compileHeaderMutations(level, 'l', issues));
  if (issues.length > 0) throw new Error(`unexpected issues: ${JSON.stringify(issues)}`);
  return result;
}

/** Applies the request side of `level` to a copy of `headers`. */
function applyRequest(level: Level, headers: readonly string[]): Flat {
  const out = [...headers];
  compileLevel(level).request?.apply(out, context());
  return out;
}

const valuesOf = (headers: readonly string[], name: string): string[] => {
  const values: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) values.push(headers[i + 1]!);
  return values;
};

const except = (headers: readonly string[], names: ReadonlySet<string>): Flat => {
  const out: Flat = [];
  for (let i = 0; i < headers.length; i += 2) if (!names.has(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  return out;
};

/** name → values, in order per name: what a header map means, whatever the order across names. */
const byName = (headers: readonly string[]): Record<string, string[]> => {
  const map: Record<string, string[]> = Object.create(null);
  for (let i = 0; i < headers.length; i += 2) (map[headers[i]!] ??= []).push(headers[i + 1]!);
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
};

const same = (actual: unknown, expected: unknown, what: string): void => {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
};

/** Whether an addition with `value` is made at all (Envoy drops empty values unless keep_empty_value). */
const effective = (a: Pick<Addition, 'value' | 'keep'>): boolean => a.value !== '' || a.keep;

/**
 * The effect on one header's values of one addition to it (and nothing else at its level naming
 * it): Envoy's append actions.
 */
function expectedValues(before: readonly string[], a: Addition): string[] {
  if (!effective(a)) return [...before];
  switch (a.action ?? 'APPEND_IF_EXISTS_OR_ADD') {
    case 'APPEND_IF_EXISTS_OR_ADD':
      return [...before, a.value];
    case 'ADD_IF_ABSENT':
      return before.length > 0 ? [...before] : [a.value];
    case 'OVERWRITE_IF_EXISTS_OR_ADD':
      return [a.value];
    case 'OVERWRITE_IF_EXISTS':
      return before.length > 0 ? [a.value] : [];
  }
}

// ---------------------------------------------------------------------------------------------
// One level

t.test('property: after request_headers_to_remove [X], no X remains, whatever its case', async () => {
  fc.assert(
    fc.property(nameArb, headerListArb, fc.array(nameArb, { maxLength: 2 }), levelArb(), (x, base, others, noise) => {
      const removed = [x, ...others];
      const names = new Set(removed.map((r) => r.toLowerCase()));
      const headers = [...base, x.toLowerCase(), 'v'];
      // Additions to a removed name would legitimately bring it back: the noise names other headers.
      const rest: LevelSpec = { adds: noise.adds.filter((a) => !names.has(a.key.toLowerCase())), removes: noise.removes };
      const out = applyRequest({ ...requestFields(rest), request_headers_to_remove: [...removed, ...rest.removes] }, headers);
      for (let i = 0; i < out.length; i += 2) {
        if (names.has(out[i]!.toLowerCase())) throw new Error(`${out[i]} survived removal of ${JSON.stringify(removed)}: ${JSON.stringify(out)}`);
      }
      // With nothing else to do, removal is exactly a filter.
      same(applyRequest({ request_headers_to_remove: removed }, headers), except(headers, names), 'removal alone');
    }),
    { numRuns: RUNS },
  );
});

/** One property per append action: X's values after the one addition to X, other mutations around it. */
for (const action of [undefined, ...ACTIONS]) {
  const label = action ?? 'the default action (APPEND_IF_EXISTS_OR_ADD)';
  t.test(`property: ${label} on X gives Envoy's values for X`, async () => {
    fc.assert(
      fc.property(
        nameArb.chain((x) => fc.tuple(fc.constant(x), headersWith(x), additionArb(fc.constant(x), [action]), levelArb())),
        ([x, headers, addition, noise]) => {
          const name = x.toLowerCase();
          const rest = without(noise, x);
          const out = applyRequest(requestFields({ adds: [...rest.adds, addition], removes: rest.removes }), headers);
          same(valuesOf(out, name), expectedValues(valuesOf(headers, name), addition), `values of ${name}`);
          if (action === 'OVERWRITE_IF_EXISTS_OR_ADD' && effective(addition)) {
            same(valuesOf(out, name), [addition.value], 'exactly one X with the value');
          }
          // Headers no mutation names are untouched, in their order.
          const named = new Set([...namesOf(rest), name]);
          same(except(out, named), except(headers, named), 'headers no mutation names');
        },
      ),
      { numRuns: RUNS },
    );
  });
}

t.test('property: the deprecated append: true/false equals APPEND_IF_EXISTS_OR_ADD/OVERWRITE_IF_EXISTS_OR_ADD', async () => {
  fc.assert(
    fc.property(
      nameArb.chain((x) => fc.tuple(headersWith(x), additionArb(fc.constant(x), [undefined]))),
      fc.boolean(),
      ([headers, a], append) => {
        const deprecated: HeaderValueOption = { ...option(a), append };
        const modern = option({ ...a, action: append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD' });
        same(applyRequest({ request_headers_to_add: [deprecated] }, headers), applyRequest({ request_headers_to_add: [modern] }, headers), 'append');
      },
    ),
    { numRuns: 500 },
  );
});

t.test('property: headers that no mutation names are untouched and keep their relative order', async () => {
  fc.assert(
    fc.property(headerListArb, levelArb(), (headers, level) => {
      const out = applyRequest(requestFields(level), headers);
      const named = namesOf(level);
      same(except(out, named), except(headers, named), 'unnamed headers');
      // Whatever was added, names stay lowercase (the FlatHeaders contract).
      for (let i = 0; i < out.length; i += 2) {
        if (out[i] !== out[i]!.toLowerCase()) throw new Error(`a name is not lowercase: ${out[i]}`);
      }
    }),
    { numRuns: 2000 },
  );
});

// One overwrite per name: two of them on one name with different conditions are not idempotent,
// in Envoy either ([OVERWRITE_IF_EXISTS_OR_ADD x=a, OVERWRITE_IF_EXISTS x=b] on a request without
// x gives x=a, applied again x=b), since every condition is decided before any overwrite.
t.test('property: a level of removals and overwrites is idempotent (applied twice = once)', async () => {
  const overwriteOnly = fc.record({
    adds: fc.uniqueArray(additionArb(nameArb, ['OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS']), {
      maxLength: 5,
      selector: (a) => a.key.toLowerCase(),
    }),
    removes: fc.array(nameArb, { maxLength: 3 }),
  });
  fc.assert(
    fc.property(headerListArb, overwriteOnly, (headers, level) => {
      const mutation = compileLevel(requestFields(level)).request;
      const once = [...headers];
      mutation?.apply(once, context());
      const twice = [...once];
      mutation?.apply(twice, context());
      // As header maps. A name both removed and set moves to the end each time (as in Envoy, where
      // setting appends), so across names the order is the same only without removals.
      same(byName(twice), byName(once), 'second application');
      if (level.removes.length === 0) same(twice, once, 'second application, in order');
      // The same level compiled twice (as when route and virtual host carry it) is the same.
      const again = compileLevel(requestFields(level)).request;
      const twoLevels = [...headers];
      mutation?.apply(twoLevels, context());
      again?.apply(twoLevels, context());
      same(byName(twoLevels), byName(once), 'two identical levels');
    }),
    { numRuns: 2000 },
  );
});

/**
 * Envoy's HeaderParser::evaluateHeaders, written from its source as a reference: remove, decide
 * every addition on the headers as they are then, overwrite (Envoy's setReferenceKey removes and
 * appends), then append. Compared by name, as Envoy's header map has no order across names.
 */
function envoyLevel(headers: readonly string[], level: LevelSpec): Flat {
  let out = [...headers];
  for (const r of level.removes) out = except(out, new Set([r.toLowerCase()]));
  const overwrite: [string, string][] = [];
  const append: [string, string][] = [];
  for (const a of level.adds) {
    if (!effective(a)) continue;
    const key = a.key.toLowerCase();
    const present = valuesOf(out, key).length > 0;
    switch (a.action ?? 'APPEND_IF_EXISTS_OR_ADD') {
      case 'APPEND_IF_EXISTS_OR_ADD':
        append.push([key, a.value]);
        break;
      case 'ADD_IF_ABSENT':
        if (!present) append.push([key, a.value]);
        break;
      case 'OVERWRITE_IF_EXISTS':
        if (present) overwrite.push([key, a.value]);
        break;
      case 'OVERWRITE_IF_EXISTS_OR_ADD':
        overwrite.push([key, a.value]);
        break;
    }
  }
  for (const [k, v] of overwrite) out = [...except(out, new Set([k])), k, v];
  for (const [k, v] of append) out.push(k, v);
  return out;
}

t.test('property: a whole level (several mutations, same names, all actions) matches Envoy header by header', async () => {
  fc.assert(
    fc.property(headerListArb, levelArb(), (headers, level) => {
      same(byName(applyRequest(requestFields(level), headers)), byName(envoyLevel(headers, level)), 'headers by name');
    }),
    { numRuns: 2000 },
  );
});

t.test('property: the response side does what the request side does', async () => {
  fc.assert(
    fc.property(headerListArb, levelArb(), (headers, level) => {
      const request = requestFields(level);
      const mutations = compileLevel({
        response_headers_to_add: request.request_headers_to_add,
        response_headers_to_remove: request.request_headers_to_remove,
      });
      if (mutations.request !== undefined) throw new Error('response fields compiled a request mutation');
      const out = [...headers];
      mutations.response?.apply(out, context());
      same(out, applyRequest(request, headers), 'response side');
    }),
    { numRuns: 500 },
  );
});

t.test("property: a value with '%' escaped as '%%' is added literally", async () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('%', '%%', 'A', 'REQ', '(', ')', ':', '1', ',', ' ', 'x'), maxLength: 12 }), (value) => {
      const out = applyRequest({ request_headers_to_add: [{ header: { key: 'x', value: literal(value) }, keep_empty_value: true }] }, []);
      same(out, ['x', value], 'added header');
    }),
    { numRuns: 1000 },
  );
});

// Pseudo-headers and host: "refused, as in Envoy" (header-mutation.ts isProtectedHeader).
const protectedArb = fc.oneof(
  fc.mixedCase(fc.constant('host')),
  fc.constantFrom(':authority', ':path', ':method', ':scheme', ':status', ':protocol'),
  randomToken.map((n) => `:${n}`),
);

t.test('property: a `:`-prefixed or host name is a config issue at its path, and the rest of the level still applies', async () => {
  fc.assert(
    fc.property(
      levelArb(),
      protectedArb,
      fc.boolean(),
      fc.nat(),
      fc.constantFrom<'request' | 'response'>('request', 'response'),
      headerListArb,
      valueArb,
      (valid, bad, asRemoval, at, side, base, hostValue) => {
        const adds = valid.adds.map(option);
        const removes = [...valid.removes];
        let path: string;
        let message: string;
        if (asRemoval) {
          const i = at % (removes.length + 1);
          removes.splice(i, 0, bad);
          path = `l.${side}_headers_to_remove[${i}]`;
          message = ':-prefixed or host headers may not be removed';
        } else {
          const i = at % (adds.length + 1);
          adds.splice(i, 0, { header: { key: bad, value: 'evil' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
          path = `l.${side}_headers_to_add[${i}].header.key`;
          message = ':-prefixed or host headers may not be modified';
        }
        const level: Level =
          side === 'request'
            ? { request_headers_to_add: adds, request_headers_to_remove: removes }
            : { response_headers_to_add: adds, response_headers_to_remove: removes };
        const { result, issues } = collect((issues) => compileHeaderMutations(level, 'l', issues));
        same(issues, [{ path, message }], 'issues');
        // Compiled despite the issue (the caller refuses the config), the level leaves host alone
        // and applies the valid mutations exactly as without the refused one.
        const headers = [...base, 'host', hostValue];
        const out = [...headers];
        result[side]?.apply(out, context());
        same(valuesOf(out, 'host'), [hostValue], 'host');
        if (out.some((n, i) => i % 2 === 0 && n.startsWith(':'))) throw new Error(`a pseudo-header was added: ${JSON.stringify(out)}`);
        same(out, applyRequest(requestFields(valid), headers), 'the valid mutations');
        // Through a route configuration, the whole configuration is refused.
        let refused: unknown;
        try {
          compile({ ...level, virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [] }] });
        } catch (e) {
          refused = e;
        }
        if (!(refused instanceof ConfigError)) throw new Error('compileRouteConfiguration accepted it');
        same(refused.issues, [{ path: path.replace(/^l\./, 'route_config.'), message }], 'route configuration issues');
      },
    ),
    { numRuns: 1000 },
  );
});

// ---------------------------------------------------------------------------------------------
// End to end: compileRouteConfiguration + route(request) + apply*HeaderMutations

const X = 'x-prec';

type XAction = { kind: 'none' } | { kind: 'remove'; key: string } | { kind: 'add'; addition: Addition };

const xActionArb: fc.Arbitrary<XAction> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<XAction>({ kind: 'none' }) },
  { weight: 1, arbitrary: fc.mixedCase(fc.constant(X)).map((key): XAction => ({ kind: 'remove', key })) },
  { weight: 4, arbitrary: additionArb(fc.mixedCase(fc.constant(X))).map((addition): XAction => ({ kind: 'add', addition })) },
);
const xOverwriteArb: fc.Arbitrary<XAction> = fc.oneof(
  fc.constant<XAction>({ kind: 'none' }),
  fc
    .record({ key: fc.mixedCase(fc.constant(X)), value: valueArb.filter((v) => v !== ''), action: fc.constant('OVERWRITE_IF_EXISTS_OR_ADD' as const), keep: fc.boolean() })
    .map((addition): XAction => ({ kind: 'add', addition })),
);

/** One level of the route configuration: what it does to X on each side, and other mutations. */
interface E2ELevel {
  req: XAction;
  resp: XAction;
  reqNoise: LevelSpec;
  respNoise: LevelSpec;
}
const e2eLevelArb = (x: fc.Arbitrary<XAction>): fc.Arbitrary<E2ELevel> =>
  fc.record({ req: x, resp: x, reqNoise: levelArb().map((l) => without(l, X)), respNoise: levelArb().map((l) => without(l, X)) });

function withX(noise: LevelSpec, action: XAction): LevelSpec {
  if (action.kind === 'remove') return { adds: noise.adds, removes: [...noise.removes, action.key] };
  if (action.kind === 'add') return { adds: [...noise.adds, action.addition], removes: noise.removes };
  return noise;
}

function levelFields(level: E2ELevel): Level {
  const req = withX(level.reqNoise, level.req);
  const resp = withX(level.respNoise, level.resp);
  return {
    ...requestFields(req),
    ...(resp.adds.length > 0 ? { response_headers_to_add: resp.adds.map(option) } : {}),
    ...(resp.removes.length > 0 ? { response_headers_to_remove: resp.removes } : {}),
  };
}

function applyX(values: readonly string[], action: XAction): string[] {
  if (action.kind === 'none') return [...values];
  if (action.kind === 'remove') return [];
  return expectedValues(values, action.addition);
}

interface E2EConfig {
  top: E2ELevel;
  mostSpecificWins: boolean | undefined;
  vhosts: { level: E2ELevel; routes: { level: E2ELevel; clusters: { level: E2ELevel; weight: number }[] | undefined }[] }[];
}
const e2eConfigArb = (x: fc.Arbitrary<XAction>): fc.Arbitrary<E2EConfig> => {
  const level = e2eLevelArb(x);
  const cluster = fc.record({ level, weight: fc.integer({ min: 1, max: 5 }) });
  const route = fc.record({ level, clusters: fc.option(fc.array(cluster, { minLength: 1, maxLength: 3 }), { nil: undefined }) });
  const vhost = fc.record({ level, routes: fc.array(route, { minLength: 1, maxLength: 3 }) });
  return fc.record({
    top: level,
    mostSpecificWins: fc.constantFrom(undefined, false, true),
    vhosts: fc.array(vhost, { minLength: 1, maxLength: 3 }),
  });
};

function routeConfiguration(spec: E2EConfig): RouteConfiguration {
  const virtualHosts: VirtualHost[] = spec.vhosts.map((vh, i) => ({
    name: `vh${i}`,
    domains: [`h${i}.example`],
    ...levelFields(vh.level),
    routes: vh.routes.map(
      (r, j): Route => ({
        name: `vh${i}-r${j}`,
        match: { prefix: `/r${j}/` },
        ...levelFields(r.level),
        route:
          r.clusters === undefined
            ? { cluster: 'plain' }
            : {
                weighted_clusters: {
                  clusters: r.clusters.map((c, k): ClusterWeight => ({ name: `c${k}`, weight: c.weight, ...levelFields(c.level) })),
                },
              },
      }),
    ),
  }));
  return {
    ...levelFields(spec.top),
    ...(spec.mostSpecificWins === undefined ? {} : { most_specific_header_mutations_wins: spec.mostSpecificWins }),
    virtual_hosts: virtualHosts,
  };
}

/** Every name any level of the configuration mutates. */
function configNames(spec: E2EConfig): Set<string> {
  const names = new Set<string>([X]);
  const add = (l: E2ELevel) => {
    for (const n of namesOf(l.reqNoise)) names.add(n);
    for (const n of namesOf(l.respNoise)) names.add(n);
  };
  add(spec.top);
  for (const vh of spec.vhosts) {
    add(vh.level);
    for (const r of vh.routes) {
      add(r.level);
      for (const c of r.clusters ?? []) add(c.level);
    }
  }
  return names;
}

interface E2ECase {
  spec: E2EConfig;
  vhost: number;
  route: number;
  random: number;
  requestHeaders: Flat;
  responseHeaders: Flat;
}
const e2eCaseArb = (x: fc.Arbitrary<XAction>): fc.Arbitrary<E2ECase> =>
  fc.record({
    spec: e2eConfigArb(x),
    vhost: fc.nat(),
    route: fc.nat(),
    random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    requestHeaders: headersWith(X),
    responseHeaders: headersWith(X),
  });

/** Routes the case's request and applies both sides' mutations, returning what the model needs. */
function runE2E(c: E2ECase) {
  const i = c.vhost % c.spec.vhosts.length;
  const vh = c.spec.vhosts[i]!;
  const j = c.route % vh.routes.length;
  const r = vh.routes[j]!;
  const table = compile(routeConfiguration(c.spec));
  const req = request({ authority: `h${i}.example`, path: `/r${j}/x`, headers: [...c.requestHeaders] });
  const route = table.route(req);
  if (route === undefined || route.name !== `vh${i}-r${j}`) throw new Error(`routed to ${route?.name}, expected vh${i}-r${j}`);
  const choice = route.selectCluster(c.random);
  const cluster = r.clusters === undefined ? undefined : r.clusters[Number(choice.name.slice(1))]!;
  if (r.clusters === undefined ? choice.name !== 'plain' : cluster === undefined) throw new Error(`unexpected cluster ${choice.name}`);
  const ctx = context({ request: req });
  const requestOut = [...c.requestHeaders];
  route.applyRequestHeaderMutations(requestOut, ctx, choice);
  const responseOut = [...c.responseHeaders];
  route.applyResponseHeaderMutations(responseOut, ctx, choice);
  // The order the code documents: weighted cluster, then most specific first, unless
  // most_specific_header_mutations_wins reverses route/virtual host/configuration.
  const scoped = [r.level, vh.level, c.spec.top];
  if (c.spec.mostSpecificWins === true) scoped.reverse();
  const levels = cluster === undefined ? scoped : [cluster.level, ...scoped];
  return { requestOut, responseOut, levels, routeLevel: r.level, vhostLevel: vh.level, clusterLevel: cluster?.level };
}

t.test('property: route-level, virtual-host and configuration mutations apply to the routed request in the documented order', async () => {
  fc.assert(
    fc.property(e2eCaseArb(xActionArb), (c) => {
      const { requestOut, responseOut, levels } = runE2E(c);
      const expectedRequest = levels.reduce((xs, l) => applyX(xs, l.req), valuesOf(c.requestHeaders, X));
      const expectedResponse = levels.reduce((xs, l) => applyX(xs, l.resp), valuesOf(c.responseHeaders, X));
      same(valuesOf(requestOut, X), expectedRequest, `request ${X}`);
      same(valuesOf(responseOut, X), expectedResponse, `response ${X}`);
      // Names no level anywhere in the configuration mentions are untouched.
      const named = configNames(c.spec);
      same(except(requestOut, named), except(c.requestHeaders, named), 'request headers nothing names');
      same(except(responseOut, named), except(c.responseHeaders, named), 'response headers nothing names');
    }),
    { numRuns: 1000 },
  );
});

t.test('property: on OVERWRITE the configuration wins by default, the route with most_specific_header_mutations_wins', async () => {
  fc.assert(
    fc.property(e2eCaseArb(xOverwriteArb), (c) => {
      const { requestOut, responseOut, routeLevel, vhostLevel, clusterLevel } = runE2E(c);
      const value = (l: E2ELevel | undefined, side: 'req' | 'resp'): string | undefined => {
        const a = l?.[side];
        return a?.kind === 'add' ? a.addition.value : undefined;
      };
      for (const side of ['req', 'resp'] as const) {
        const [route, vhost, top, weighted] = [value(routeLevel, side), value(vhostLevel, side), value(c.spec.top, side), value(clusterLevel, side)];
        const winner = c.spec.mostSpecificWins === true ? (route ?? vhost ?? top ?? weighted) : (top ?? vhost ?? route ?? weighted);
        const before = valuesOf(side === 'req' ? c.requestHeaders : c.responseHeaders, X);
        const expected = winner === undefined ? before : [winner];
        same(valuesOf(side === 'req' ? requestOut : responseOut, X), expected, `${side} ${X}`);
      }
    }),
    { numRuns: 1000 },
  );
});

