/**
 * What a simulated client reads from the few resources it decodes (with meshlet's own decoder,
 * xds/proto-binary.ts, so these see the normalized proto3 field names).
 */

/** The RDS names a Listener's HTTP connection managers ask for, as Envoy would subscribe to them. */
export function routeNamesOfListener(listener: any): string[] {
  const names: string[] = [];
  for (const chain of listener?.filter_chains ?? []) {
    for (const filter of chain?.filters ?? []) {
      const name = filter?.typed_config?.rds?.route_config_name;
      if (typeof name === 'string' && name !== '' && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

/** Whether a ClusterLoadAssignment has an endpoint on `port`: how a client recognizes the edit it waits for. */
export function assignmentHasPort(assignment: any, port: number): boolean {
  for (const locality of assignment?.endpoints ?? []) {
    for (const lb of locality?.lb_endpoints ?? []) {
      if (lb?.endpoint?.address?.socket_address?.port_value === port) return true;
    }
  }
  return false;
}
