/**
 * The etcd mode's mesh as keys: the generated mesh's endpoints as their instances register them
 * (`meshlet register`), and an edit (an endpoint moving to a new port, as a rescheduled pod
 * would) as the keys it deletes and puts, each as etcd-registration.ts's registrationEntry() puts
 * it. Pure.
 */
import { registrationEntry } from '../../xds/control-plane/registry/etcd-registration';
import { scaleEndpoint, serviceName, type EndpointMove, type ScaleMeshOptions } from './mesh-generator';

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}


/** Every endpoint of the generated mesh, registered, with `moves` applied: what etcd holds after them. */
export function scaleRegistrations(options: ScaleMeshOptions, prefix: string, moves: readonly EndpointMove[] = []): KeyValue[] {
  const all: KeyValue[] = [];
  for (let i = 0; i < options.services; i++) {
    const service = serviceName(i, options);
    for (let j = 0; j < options.endpointsPerService; j++) all.push(registrationEntry(prefix, service, scaleEndpoint(i, j, options, moves)));
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
  const before = registrationEntry(prefix, service, scaleEndpoint(move.serviceIndex, move.endpointIndex, options, moves.slice(0, k)));
  const after = registrationEntry(prefix, service, scaleEndpoint(move.serviceIndex, move.endpointIndex, options, moves.slice(0, k + 1)));
  if (before.key === after.key) throw new Error(`edit ${k} does not move ${before.key}`);
  return { deleteKey: before.key, put: after };
}
