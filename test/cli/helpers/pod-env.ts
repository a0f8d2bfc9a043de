/**
 * What the kubelet makes of a container's `env` (no API server here): the downward API's
 * fieldRefs the injected sidecar uses, then `$(VAR)` references to variables listed above.
 */

/** The pod facts the downward API gives. */
export interface PodFacts {
  readonly name: string;
  readonly namespace: string;
  readonly podIP: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** `container.env` → the process environment the kubelet would give it. */
export function containerEnv(container: { env?: readonly any[] }, pod: PodFacts): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (entry.valueFrom !== undefined) {
      env[entry.name] = fieldRef(entry.valueFrom.fieldRef?.fieldPath, pod);
    } else {
      // $(NAME) expands a variable defined earlier in the list; an unknown one stays as written.
      env[entry.name] = String(entry.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env[name] ?? ref);
    }
  }
  return env;
}

function fieldRef(path: unknown, pod: PodFacts): string {
  if (path === 'metadata.name') return pod.name;
  if (path === 'metadata.namespace') return pod.namespace;
  if (path === 'status.podIP') return pod.podIP;
  const label = typeof path === 'string' ? /^metadata\.labels\['([^']+)'\]$/.exec(path) : null;
  // A label the pod does not have reads as "".
  if (label !== null) return pod.labels[label[1]!] ?? '';
  throw new Error(`fieldRef ${String(path)}: not a field this helper (or the injected sidecar) uses`);
}


/** A container's `args` as the kubelet runs them: `$(VAR)` is the container's variable, an unknown one stays as written. */
export function containerArgs(container: { args?: readonly string[] }, env: Readonly<Record<string, string>>): string[] {
  return (container.args ?? []).map((arg) => String(arg).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env[name] ?? ref));
}
