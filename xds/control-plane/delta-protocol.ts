/**
 * The incremental (Delta) xDS protocol for one resource type on one stream, as pure functions.
 * The server tracks which version of each resource the client holds and sends only what
 * differs; the rules, from Envoy's "Incremental xDS":
 * - subscription changes are honored on every request, even with a stale nonce;
 * - the first request may list `initial_resource_versions` the client already holds (reconnect);
 * - a newly subscribed resource is sent even if the client seems to hold it, and one that does
 *   not exist is named in removed_resources, so the client need not wait for a timeout;
 * - a resource that disappears (or leaves a wildcard) is named in removed_resources;
 * - unsubscribing from a name that the wildcard also covers gets the resource resent, so the
 *   client knows to keep it (and a removal if the wildcard does not cover it);
 * - one response at a time, as in SotW; a NACK leaves the client at its previous versions and
 *   the rejected versions are not resent until they change.
 */
import type { ResourceSet, VersionedResource } from './snapshot';
import { NOTHING, changedNames, deltaSubscription, isSubscribed, subscribed, type Subscription } from './subscription';

export interface DeltaRequest {
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: Readonly<Record<string, string>>;
  readonly responseNonce: string;
  readonly errorDetail?: string;
}

export interface DeltaResponse {
  readonly systemVersionInfo: string;
  readonly resources: readonly VersionedResource[];
  readonly removed: readonly string[];
  readonly nonce: string;
}

export interface DeltaState {
  readonly subscription: Subscription;
  /** What the client holds as far as the server knows: name → version. */
  readonly known: ReadonlyMap<string, string>;
  /** Names to send (or report missing) even if the client seems to hold them. */
  readonly forced: ReadonlySet<string>;
  /** The response awaiting ACK/NACK: what it sent, and what `known` said before it. */
  readonly inFlight?: {
    readonly nonce: string;
    readonly sent: ReadonlyMap<string, string>;
    readonly before: ReadonlyMap<string, string | undefined>;
  };
  /** Versions the client rejected: name → version. */
  readonly rejected: ReadonlyMap<string, string>;
  /** The set the last decision was made on: the same set again changes nothing. */
  readonly basis?: ResourceSet;
}

export const DELTA_INITIAL: DeltaState = { subscription: NOTHING, known: new Map(), forced: new Set(), rejected: new Map() };

export interface DeltaStep {
  readonly state: DeltaState;
  readonly response?: DeltaResponse;
  /** The request NACKed these resource versions, with the client's reason. */
  readonly nack?: { readonly versions: ReadonlyMap<string, string>; readonly message: string };
}

/**
 * `first` is true for the first request of this type on the stream (the only one whose
 * initial_resource_versions count). `nonce` is used only if a response is sent.
 */
export function deltaOnRequest(state: DeltaState, request: DeltaRequest, resources: ResourceSet, nonce: string, first: boolean): DeltaStep {
  let known = new Map(first ? Object.entries(request.initialVersions) : state.known);
  let rejected = new Map(state.rejected);
  let inFlight = state.inFlight;
  let nack: DeltaStep['nack'];
  if (inFlight !== undefined && request.responseNonce === inFlight.nonce) {
    for (const [name, version] of inFlight.sent) {
      if (request.errorDetail === undefined) rejected.delete(name);
      else {
        rejected.set(name, version);
        const before = inFlight.before.get(name);
        if (before === undefined) known.delete(name);
        else known.set(name, before);
      }
    }
    if (request.errorDetail !== undefined) nack = { versions: inFlight.sent, message: request.errorDetail };
    inFlight = undefined;
  }

  const subscription = deltaSubscription(state.subscription, request.subscribe, request.unsubscribe);
  const forced = new Set(state.forced);
  for (const name of request.subscribe) forced.add(name);
  for (const name of request.unsubscribe) {
    // Covered by the wildcard: resend so the client keeps it. Otherwise the client drops it.
    if (subscription.wildcard) forced.add(name);
    else known.delete(name);
  }
  forced.delete('*');
  const step = decide({ subscription, known, forced, inFlight, rejected }, resources, nonce);
  return { ...step, ...(nack && { nack }) };
}

/** A new snapshot: push what changed for this client. */
export function deltaOnSnapshot(state: DeltaState, resources: ResourceSet, nonce: string): DeltaStep {
  // Only a request changes the state a decision depends on, and it decides again itself; so
  // since the last decision only the names whose resources differ from its set can need sending.
  if (resources === state.basis) return { state };
  return decide(state, resources, nonce, state.basis && changedNames(state.basis, resources));
}

/** `candidates`: the names that may need sending; every name the client has or wants when undefined. */
function decide(state: DeltaState, resources: ResourceSet, nonce: string, candidates?: Iterable<string>): DeltaStep {
  if (state.inFlight !== undefined) return { state };
  const { subscription, known, forced, rejected } = state;
  const covered = subscribed(subscription, resources);
  candidates ??= new Set([...covered.resources.map((r) => r.name), ...subscription.names, ...forced, ...known.keys()]);
  const updated: VersionedResource[] = [];
  const removed: string[] = [];
  for (const name of candidates) {
    const resource = resources.get(name);
    if (resource !== undefined && isSubscribed(subscription, name, resources)) {
      const stale = forced.has(name) || known.get(name) !== resource.version;
      if (stale && rejected.get(name) !== resource.version) updated.push(resource);
    } else if (known.has(name) || forced.has(name)) {
      removed.push(name);
    }
  }
  const settled: DeltaState = { ...state, forced: new Set(), basis: resources };
  if (updated.length === 0 && removed.length === 0) return { state: settled };

  const nextKnown = new Map(known);
  for (const name of removed) nextKnown.delete(name);
  for (const r of updated) nextKnown.set(r.name, r.version);
  const inFlight = {
    nonce,
    sent: new Map(updated.map((r) => [r.name, r.version])),
    before: new Map(updated.map((r) => [r.name, known.get(r.name)])),
  };
  return {
    state: { ...settled, known: nextKnown, inFlight },
    response: { systemVersionInfo: covered.version, resources: updated, removed, nonce },
  };
}
