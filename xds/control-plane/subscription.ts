/**
 * Which resources of one type a client wants, per the xDS protocol's rules for wildcards
 * ("How the client specifies what resources to return"): "*" subscribes to everything the
 * server decides the node needs; a client that never names anything is treated as "*" (the
 * legacy form Envoy uses for LDS/CDS); once it has named something, an empty list means nothing.
 */
import type { ResourceSet, VersionedResource } from './snapshot';

export interface Subscription {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
  /** Whether the client ever named a resource (or "*"), which ends the legacy wildcard. */
  readonly explicit: boolean;
}

export const NOTHING: Subscription = { wildcard: false, names: new Set(), explicit: false };

const WILDCARD = '*';

/** State of the world: every request carries the whole list. */
export function sotwSubscription(previous: Subscription, resourceNames: readonly string[]): Subscription {
  const explicit = previous.explicit || resourceNames.length > 0;
  return {
    wildcard: explicit ? resourceNames.includes(WILDCARD) : true,
    names: new Set(resourceNames.filter((n) => n !== WILDCARD)),
    explicit,
  };
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

/** The existing resources the subscription covers, in snapshot order. */
export function subscribedResources(subscription: Subscription, resources: ResourceSet): VersionedResource[] {
  return [...resources.values()].filter((r) => isSubscribed(subscription, r.name, resources));
}

/** Identifies a subscription, to tell whether it changed since the last response. */
export function subscriptionKey(subscription: Subscription): string {
  return JSON.stringify([subscription.wildcard, [...subscription.names].sort()]);
}
