/**
 * How the client worker writes edit k, the one thing the two modes do differently there: the
 * file mode rewrites the mesh file with moves[0..k]; the etcd mode moves the endpoint's
 * registration, deleting its key and putting the new one (on the registrations' lease) in one
 * etcd transaction, as a rescheduled pod's old instance leaves and its new one registers.
 * Everything an edit needs is computed before its clock starts.
 */
import { writeFileSync } from 'node:fs';
import type { Etcd3 } from 'etcd3';
import { etcdClient } from '../../xds/control-plane/registry/etcd-client';
import { registrationMove } from './etcd-registrations';
import { scaleMeshYaml, type EndpointMove, type ScaleMeshOptions } from './mesh-generator';
import type { EditTarget } from './scale-types';

export interface MeshEditor {
  /** Before the first edit: connects (etcd), so that no edit's time includes a connection set-up. */
  ready(): Promise<void>;
  /** Computes edit k and returns what writes it; the write resolves once it is done (file written, transaction committed). */
  prepare(k: number): () => Promise<void>;
  close(): void;
}

export function meshEditor(target: EditTarget, mesh: ScaleMeshOptions, moves: readonly EndpointMove[]): MeshEditor {
  return target.kind === 'file' ? fileEditor(target.meshFile, mesh, moves) : etcdEditor(target, mesh, moves);
}

function fileEditor(meshFile: string, mesh: ScaleMeshOptions, moves: readonly EndpointMove[]): MeshEditor {
  return {
    ready: async () => undefined,
    prepare(k) {
      const text = scaleMeshYaml(mesh, moves.slice(0, k + 1));
      return async () => writeFileSync(meshFile, text);
    },
    close: () => undefined,
  };
}

function etcdEditor(target: Extract<EditTarget, { kind: 'etcd' }>, mesh: ScaleMeshOptions, moves: readonly EndpointMove[]): MeshEditor {
  // The registry's own client (timeouts on every call), as `meshlet register` uses.
  const client: Etcd3 = etcdClient(target.hosts);
  return {
    async ready() {
      if (moves.length === 0) return;
      const first = registrationMove(mesh, target.prefix, moves, 0);
      if ((await client.get(first.deleteKey).string()) === null) throw new Error(`etcd has no ${first.deleteKey}: the endpoints were not registered`);
    },
    prepare(k) {
      const { deleteKey, put } = registrationMove(mesh, target.prefix, moves, k);
      // Only if the old registration is there: a lost lease (every key gone) must fail the run, not time an edit.
      const txn = client
        .if(deleteKey, 'Create', '>', 0)
        .then(client.delete().key(deleteKey), client.put(put.key).value(put.value).lease(target.leaseId));
      return async () => {
        const result = await txn.commit();
        if (!result.succeeded) throw new Error(`edit ${k + 1}: ${deleteKey} was not in etcd, nothing was moved`);
      };
    },
    close: () => client.close(),
  };
}
