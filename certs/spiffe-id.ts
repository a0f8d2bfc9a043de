/**
 * SPIFFE IDs (spiffe://<trust domain>/<path>), checked against the SPIFFE ID spec so a typo is
 * refused when a certificate is issued, not discovered later as a peer that no policy matches.
 */

const SCHEME = 'spiffe://';
/** The spec's limits: implementations must handle IDs up to 2048 bytes, trust domains up to 255. */
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN_CHARS = 255;
const TRUST_DOMAIN_CHAR = /[a-z0-9._-]/;
const PATH_CHAR = /[A-Za-z0-9._-]/;

/** `path` keeps its leading slash ("/ns/default/sa/web"); it is "" for the trust domain's own ID. */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
}

export function parseSpiffeId(uri: string): SpiffeId | { error: string } {
  if (!uri.startsWith(SCHEME)) return { error: 'must start with "spiffe://" (lowercase)' };
  if (Buffer.byteLength(uri) > MAX_ID_BYTES) return { error: `longer than ${MAX_ID_BYTES} bytes` };
  const rest = uri.slice(SCHEME.length);
  if (rest.includes('?')) return { error: 'must not have a query' };
  if (rest.includes('#')) return { error: 'must not have a fragment' };
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  const problem = trustDomainProblem(trustDomain) ?? pathProblem(path);
  return problem === undefined ? { trustDomain, path } : { error: problem };
}

/** Why `trustDomain` is not a valid SPIFFE trust domain name, or undefined if it is. */
export function trustDomainProblem(trustDomain: string): string | undefined {
  if (trustDomain === '') return 'trust domain is empty';
  if (trustDomain.length > MAX_TRUST_DOMAIN_CHARS) return `trust domain is longer than ${MAX_TRUST_DOMAIN_CHARS} characters`;
  if (trustDomain.includes('@')) return 'must not have userinfo';
  if (trustDomain.includes(':')) return 'trust domain must not have a port';
  const bad = [...trustDomain].find((c) => !TRUST_DOMAIN_CHAR.test(c));
  if (bad === undefined) return undefined;
  return /[A-Z]/.test(bad) ? 'trust domain must be lowercase' : `trust domain has ${JSON.stringify(bad)} (allowed: a-z 0-9 . - _)`;
}

function pathProblem(path: string): string | undefined {
  if (path === '') return undefined;
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return 'path has an empty segment (a double or trailing slash)';
    if (segment === '.' || segment === '..') return 'path segments must not be "." or ".."';
    const bad = [...segment].find((c) => !PATH_CHAR.test(c));
    if (bad !== undefined) return `path has ${JSON.stringify(bad)} (allowed: A-Z a-z 0-9 . - _; no percent-encoding)`;
  }
  return undefined;
}

/** The Istio-style ID of a Kubernetes service account: spiffe://<td>/ns/<namespace>/sa/<account>. */
export function workloadSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  const id = `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  const parsed = parseSpiffeId(id);
  if ('error' in parsed) throw new Error(`invalid SPIFFE ID ${JSON.stringify(id)}: ${parsed.error}`);
  return id;
}
