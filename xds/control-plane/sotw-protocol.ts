/**
 * The State-of-the-World xDS protocol for one resource type on one stream, as pure functions:
 * (state, request or new snapshot) → (state, response to send). The rules, from Envoy's "xDS
 * REST and gRPC protocol":
 * - a request whose response_nonce is not the latest nonce sent is stale and gets no response;
 * - a request carrying the latest nonce ACKs (no error_detail) or NACKs (error_detail) it;
 * - one response at a time: the next is sent once the previous one is ACKed or NACKed;
 * - a response is sent when the subscribed resources' version differs from the one the client
 *   last ACKed, or the subscription changed (newly named resources must be sent even if unchanged);
 * - a version the client NACKed is never sent again: only a change produces a new version;
 * - Listener and Cluster responses hold every subscribed resource (one missing is deleted);
 *   for the other types ("Grouping Resources into Responses") a response holds only what the
 *   client does not have yet, so a change of one service's endpoints sends one assignment.
 */
import type { ResourceSet, VersionedResource } from './snapshot';
import { NOTHING, changedSince, sotwSubscription, subscribed, subscriptionKey, type Subscribed, type Subscription } from './subscription';

export interface SotwRequest {
  readonly versionInfo: string;
  readonly resourceNames: readonly string[];
  readonly responseNonce: string;
  /** error_detail.message when the request is a NACK. */
  readonly errorDetail?: string;
}

export interface SotwResponse {
  readonly versionInfo: string;
  readonly resources: readonly VersionedResource[];
  readonly nonce: string;
}

export interface SotwState {
  readonly subscription: Subscription;
  /** The latest response: its nonce, version, the subscription it answered, and what the client held before it. */
  readonly sent?: { readonly nonce: string; readonly version: string; readonly subscription: string; readonly heldBefore: Subscribed | undefined };
  /** What the client holds, counting the latest response as applied. */
  readonly held?: Subscribed;
  readonly awaitingAck: boolean;
  /** The version the client rejected most recently. */
  readonly nacked?: string;
  /** The version the client acknowledged most recently. */
  readonly acked?: string;
  /** The set the last decision was made on: the same set again changes nothing. */
  readonly basis?: ResourceSet;
}

export const SOTW_INITIAL: SotwState = { subscription: NOTHING, awaitingAck: false };

export interface SotwStep {
  readonly state: SotwState;
  readonly response?: SotwResponse;
  /** The request NACKed `version`, with the client's reason; it keeps running `kept`. */
  readonly nack?: { readonly version: string; readonly kept: string; readonly message: string };
  /** The request answered an older response and was ignored. */
  readonly stale?: boolean;
}

/**
 * `nonce` is used only if a response is sent; `complete`: every response holds every subscribed
 * resource (LDS, CDS).
 */
export function sotwOnRequest(state: SotwState, request: SotwRequest, resources: ResourceSet, nonce: string, complete = true): SotwStep {
  const answers = request.responseNonce !== '' && state.sent !== undefined;
  if (answers && request.responseNonce !== state.sent!.nonce) return { state, stale: true };
  let next: SotwState = { ...state, subscription: sotwSubscription(state.subscription, request.resourceNames), awaitingAck: false };
  let nack: SotwStep['nack'];
  if (answers) {
    const version = state.sent!.version;
    if (request.errorDetail !== undefined) {
      nack = { version, kept: request.versionInfo, message: request.errorDetail };
      next = { ...next, nacked: version, held: state.sent!.heldBefore };
    } else {
      next = { ...next, acked: version, nacked: undefined };
    }
  }
  return { ...decide(next, resources, nonce, complete), ...(nack && { nack }) };
}

/** A new snapshot: push if what this client subscribes to changed. */
export function sotwOnSnapshot(state: SotwState, resources: ResourceSet, nonce: string, complete = true): SotwStep {
  // Only a request changes the state a decision depends on, and it decides again itself.
  if (resources === state.basis) return { state };
  return decide(state, resources, nonce, complete);
}

function decide(state: SotwState, resources: ResourceSet, nonce: string, complete: boolean): SotwStep {
  if (state.awaitingAck) return { state };
  const desired = subscribed(state.subscription, resources);
  const { version } = desired;
  const subscription = subscriptionKey(state.subscription);
  const settled = { ...state, basis: resources };
  if (version === state.nacked) return { state: settled };
  // What the client runs is what it last ACKed (after a NACK, not what was sent last).
  if (state.sent !== undefined && state.acked === version && state.sent.subscription === subscription) return { state: settled };
  const { held } = state;
  return {
    state: { ...settled, sent: { nonce, version, subscription, heldBefore: held }, held: desired, awaitingAck: true },
    response: { versionInfo: version, resources: complete ? desired.resources : changedSince(held, desired), nonce },
  };
}
