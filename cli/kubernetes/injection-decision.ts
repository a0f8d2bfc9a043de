import { ANNOTATIONS, REDIRECT_ANNOTATIONS } from './injection-annotations';
import { redirectOptionsFromFlags } from './redirect-options';
import { PROXY_CONTAINER } from './sidecar-containers';

export type InjectionDecision =
  | {
      readonly inject: true;
      /** node.cluster of the sidecar: the mesh file's service name. */
      readonly service: string;
      /** A Job's pod, or a Pod that is not restarted: its app must stop the sidecar when done. */
      readonly runsToCompletion: boolean;
      /** `meshlet iptables` flags from the workload's exclusion annotations. */
      readonly iptablesArgs: readonly string[];
    }
  | { readonly inject: false; readonly reason: string }
  /** Annotations that cannot work: injecting anyway would fail at the pod's start instead. */
  | { readonly inject: false; readonly error: string };

/**
 * Whether to inject a workload's pod, and as which service. `workload` is the document and
 * `template` its pod template (for a Pod, the document itself), both as plain data.
 */
export function decideInjection(kind: string, workload: any, template: any): InjectionDecision {
  const annotations = podAnnotations(workload, template);
  const spec = template?.spec;
  const containers: unknown[] = Array.isArray(spec?.containers) ? spec.containers : [];
  if (String(annotations[ANNOTATIONS.injected]) === 'true' || containers.some((c: any) => c?.name === PROXY_CONTAINER)) {
    return skip('injected already');
  }
  // `false` unquoted is a YAML boolean: either spelling opts out.
  if (String(annotations[ANNOTATIONS.inject]) === 'false') return skip(`${ANNOTATIONS.inject} is "false"`);
  if (containers.length === 0) return skip('its pod has no containers');
  if (spec.hostNetwork === true) return skip("hostNetwork: the init step would rewrite the node's own iptables");
  const service = annotations[ANNOTATIONS.service] ?? template?.metadata?.labels?.app ?? workload?.metadata?.labels?.app ?? workload?.metadata?.name;
  if (typeof service !== 'string' || service === '') {
    return skip(`no service name: give it the label "app" or the annotation ${ANNOTATIONS.service}`);
  }
  const runsToCompletion = kind === 'Job' || kind === 'CronJob' || (kind === 'Pod' && ['Never', 'OnFailure'].includes(spec.restartPolicy));

  const iptablesArgs: string[] = [];
  for (const [annotation, flag] of Object.entries(REDIRECT_ANNOTATIONS)) {
    if (annotations[annotation] === undefined) continue;
    const value = String(annotations[annotation]);
    const checked = redirectOptionsFromFlags({ [flag]: value });
    if ('error' in checked) return { inject: false, error: `annotation ${annotation} (meshlet iptables ${checked.error})` };
    iptablesArgs.push(`--${flag}`, value);
  }
  return { inject: true, service, runsToCompletion, iptablesArgs };
}

/** The meshlet annotations that apply to a pod: its template's, else the workload's. */
export function podAnnotations(workload: any, template: any): Record<string, unknown> {
  // The pod template's annotations win over the workload's.
  return { ...workload?.metadata?.annotations, ...template?.metadata?.annotations };
}

function skip(reason: string): InjectionDecision {
  return { inject: false, reason };
}
