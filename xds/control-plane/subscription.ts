/**
 * Which resources of one type a client wants, per the xDS protocol's rules for wildcards
 * ("How the client specifies what resources to return"): "*" subscribes to everything the
 * server decides the node needs; a client that never names anything is treated as "*" (the
 * legacy form Envoy uses for LDS/CDS); once it has named something, an empty list means nothing.
 */
import { combinedVersion } from './resource-version';
import type { ResourceSet, VersionedResource } from './snapshot';

export interface Subscription {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
  /** Whether the client ever named a resource (or "*"), which ends the legacy wildcard. */
  readonly explicit: boolean;
}

export const NOTHING: Subscription = { wildcard: false, names: new Set(), explicit: false };

const WILDCARD = '*';

/**
 * State of the world: every request carries the whole list, and mostly the very list of the
 * request before (an ACK): then the previous subscription itself is kept, so what was worked out
 * for it is reused, and recognizing that allocates nothing.
 */
export function sotwSubscription(previous: Subscription, resourceNames: readonly string[]): Subscription {
  const explicit = previous.explicit || resourceNames.length > 0;
  const asked = requestedNames.get(previous);
  if (explicit === previous.explicit && asked !== undefined && sameList(asked, resourceNames)) return previous;
  const next = {
    wildcard: explicit ? resourceNames.includes(WILDCARD) : true,
    names: new Set(resourceNames.filter((n) => n !== WILDCARD)),
    explicit,
  };
  requestedNames.set(next, resourceNames);
  return next;
}

/** The list a SotW request named, per subscription made from it. */
const requestedNames = new WeakMap<Subscription, readonly string[]>();

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Incremental: requests carry changes; the first one with nothing to subscribe is the legacy wildcard. */
export function deltaSubscription(previous: Subscription, subscribe: readonly string[], unsubscribe: readonly string[]): Subscription {
  const names = new Set(previous.names);
  for (const n of subscribe) if (n !== WILDCARD) names.add(n);
  for (const n of unsubscribe) names.delete(n);
  const legacyWildcard = !previous.explicit && subscribe.length === 0;
  const wildcard = subscribe.includes(WILDCARD) ? true : unsubscribe.includes(WILDCARD) ? false : previous.wildcard || legacyWildcard;
  return { wildcard, names, explicit: previous.explicit || subscribe.length > 0 };
}

/** Whether `name` is wanted: named, or covered by the wildcard (which excludes on-demand resources). */
export function isSubscribed(subscription: Subscription, name: string, resources: ResourceSet): boolean {
  if (subscription.names.has(name)) return true;
  const resource = resources.get(name);
  return subscription.wildcard && resource !== undefined && !resource.onDemand;
}

/** What a subscription covers of a set, and that part's version. */
export interface Subscribed {
  readonly resources: readonly VersionedResource[];
  readonly version: string;
}

/**
 * Remembered per set and subscription: a change is pushed to every stream, and streams mostly
 * subscribe alike (every sidecar to every cluster's endpoints), so each distinct answer is
 * computed once, not once per stream.
 */
const subscribedBySet = new WeakMap<ResourceSet, Map<string, Subscribed>>();

/** The existing resources the subscription covers, in snapshot order, and their combined version. */
export function subscribed(subscription: Subscription, resources: ResourceSet): Subscribed {
  let bySubscription = subscribedBySet.get(resources);
  if (bySubscription === undefined) subscribedBySet.set(resources, (bySubscription = new Map()));
  const key = subscriptionKey(subscription);
  let found = bySubscription.get(key);
  if (found === undefined) {
    const covered = subscribedResources(subscription, resources);
    found = { resources: covered, version: combinedVersion(covered) };
    bySubscription.set(key, found);
  }
  return found;
}

const versionsOf = new WeakMap<Subscribed, ReadonlyMap<string, string>>();
const changesOf = new WeakMap<Subscribed, WeakMap<Subscribed, readonly VersionedResource[]>>();

/**
 * What `next` holds that a client holding `held` lacks (every resource, when it holds nothing),
 * remembered per pair: streams that subscribe alike hold alike, so each change is worked out
 * once for all of them.
 */
export function changedSince(held: Subscribed | undefined, next: Subscribed): readonly VersionedResource[] {
  if (held === undefined) return next.resources;
  let byHeld = changesOf.get(next);
  if (byHeld === undefined) changesOf.set(next, (byHeld = new WeakMap()));
  let changed = byHeld.get(held);
  if (changed === undefined) {
    let versions = versionsOf.get(held);
    if (versions === undefined) versionsOf.set(held, (versions = new Map(held.resources.map((r) => [r.name, r.version]))));
    changed = next.resources.filter((r) => versions.get(r.name) !== r.version);
    byHeld.set(held, changed);
  }
  return changed;
}

const changedNamesOf = new WeakMap<ResourceSet, WeakMap<ResourceSet, readonly string[]>>();

/** The names whose resource differs between two sets (changed, added or gone), remembered per pair. */
export function changedNames(before: ResourceSet, after: ResourceSet): readonly string[] {
  let byBefore = changedNamesOf.get(after);
  if (byBefore === undefined) changedNamesOf.set(after, (byBefore = new WeakMap()));
  let names = byBefore.get(before);
  if (names === undefined) {
    const gone = [...before.keys()].filter((name) => !after.has(name));
    names = [...[...after.values()].filter((r) => before.get(r.name) !== r).map((r) => r.name), ...gone];
    byBefore.set(before, names);
  }
  return names;
}

/** The existing resources the subscription covers, in snapshot order. */
function subscribedResources(subscription: Subscription, resources: ResourceSet): VersionedResource[] {
  return [...resources.values()].filter((r) => isSubscribed(subscription, r.name, resources));
}

const keys = new WeakMap<Subscription, string>();

/** Identifies a subscription, to tell whether it changed since the last response. */
export function subscriptionKey(subscription: Subscription): string {
  let key = keys.get(subscription);
  if (key === undefined) {
    key = JSON.stringify([subscription.wildcard, [...subscription.names].sort()]);
    keys.set(subscription, key);
  }
  return key;
}
