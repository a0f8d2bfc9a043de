/**
 * The etcd mode's mesh as keys: the generated mesh's endpoints as their instances register them
 * (`meshlet register`), and an edit (an endpoint moving to a new port, as a rescheduled pod
 * would) as the keys it deletes and puts. Keys come from the registry's own layout
 * (xds/control-plane/registry/etcd-keys.ts), values are etcd-registration.ts's: the endpoint as
 * JSON. Pure.
 */
import { endpointKey } from '../../xds/control-plane/registry/etcd-keys';
import type { RegisteredEndpoint } from '../../xds/control-plane/registry/etcd-registration';
import { scaleEndpoint, serviceName, type EndpointMove, type ScaleMeshOptions } from './mesh-generator';

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/**
 * What `meshlet register` puts for an endpoint (registerEndpoint() in etcd-registration.ts: its
 * key, and the endpoint's JSON as the value; that module does not export the value on its own).
 */
export function registration(prefix: string, service: string, endpoint: RegisteredEndpoint): KeyValue {
  return { key: endpointKey(prefix, service, endpoint), value: JSON.stringify(endpoint) };
}

/** Every endpoint of the generated mesh, registered, with `moves` applied: what etcd holds after them. */
export function scaleRegistrations(options: ScaleMeshOptions, prefix: string, moves: readonly EndpointMove[] = []): KeyValue[] {
  const all: KeyValue[] = [];
  for (let i = 0; i < options.services; i++) {
    const service = serviceName(i, options);
    for (let j = 0; j < options.endpointsPerService; j++) all.push(registration(prefix, service, scaleEndpoint(i, j, options, moves)));
  }
  return all;
}

/** Edit k in etcd: the moved endpoint's registration as it was before the edit goes, its new one comes. */
export interface RegistrationMove {
  readonly deleteKey: string;
  readonly put: KeyValue;
}

/** Edit k of `moves` (applied cumulatively, as the file mode's edit k writes moves[0..k]). */
export function registrationMove(options: ScaleMeshOptions, prefix: string, moves: readonly EndpointMove[], k: number): RegistrationMove {
  const move = moves[k];
  if (move === undefined) throw new Error(`no edit ${k} among ${moves.length}`);
  const service = serviceName(move.serviceIndex, options);
  const before = registration(prefix, service, scaleEndpoint(move.serviceIndex, move.endpointIndex, options, moves.slice(0, k)));
  const after = registration(prefix, service, scaleEndpoint(move.serviceIndex, move.endpointIndex, options, moves.slice(0, k + 1)));
  if (before.key === after.key) throw new Error(`edit ${k} does not move ${before.key}`);
  return { deleteKey: before.key, put: after };
}
