/**
 * Where each kind keeps the pod it runs: the pod template's path in the document (a Pod is its
 * own). Other kinds (Services, ConfigMaps, a `List`...) are not injected.
 */
const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** The pod template's path for a kind that runs pods, else undefined. */
export function podTemplatePath(kind: unknown): readonly string[] | undefined {
  return typeof kind === 'string' && Object.hasOwn(POD_TEMPLATE_PATHS, kind) ? POD_TEMPLATE_PATHS[kind] : undefined;
}
