import type { AdsMethod } from './ads-service';
import type { XdsResource, XdsResourceType, XdsUpdate } from './xds-resource-types';

/** A response taken apart: the update to apply, or why the whole response is rejected. */
export type Received<S> =
  | { readonly state: S; readonly update: XdsUpdate }
  | { readonly state: S; readonly error: string; readonly names: readonly string[] };

/**
 * One variant of the ADS transport (state of the world or incremental) as pure functions over
 * an immutable per-type-URL subscription state: the client keeps one state per type URL,
 * feeds it what happens on the stream, and sends the requests these return.
 *
 * A response is applied whole or not at all: one bad resource NACKs it, and the proxy keeps
 * the last version it accepted.
 */
export interface AdsProtocol<S, Req, Res extends { readonly type_url: string }> {
  readonly method: () => AdsMethod<Req, Res>;
  /** A new subscription: `names` undefined means every resource (LDS, CDS). */
  initial(type: XdsResourceType, names: ReadonlySet<string> | undefined): S;
  /** The names to subscribe to changed. */
  withNames(state: S, names: ReadonlySet<string> | undefined): S;
  /** A new stream: what the server was told is gone; what the client holds stays. */
  newStream(state: S): S;
  /** The request due because the subscription changed or the stream is new, if any. */
  subscriptionRequest(state: S): [S, Req | undefined];
  receive(state: S, response: Res): Received<S>;
  ack(state: S, response: Res, update: XdsUpdate): [S, Req];
  nack(state: S, response: Res, error: string): [S, Req];
}

/** Names in a stable order, so requests (and tests) do not depend on insertion order. */
export function sortedNames(names: Iterable<string>): string[] {
  return [...names].sort();
}

/** The resources of a response, decoded, or every reason they cannot be. */
export function collectResources<T>(
  items: readonly T[],
  decode: (item: T) => XdsResource | { error: string } | undefined,
): { resources: XdsResource[]; errors: string[]; names: string[] } {
  const resources: XdsResource[] = [];
  const errors: string[] = [];
  const names: string[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const decoded = decode(item);
    if (decoded === undefined) continue;
    if ('error' in decoded) {
      errors.push(decoded.error);
      continue;
    }
    names.push(decoded.name);
    if (seen.has(decoded.name)) errors.push(`resource "${decoded.name}" appears twice in the response`);
    seen.add(decoded.name);
    resources.push(decoded);
  }
  return { resources, errors, names };
}
