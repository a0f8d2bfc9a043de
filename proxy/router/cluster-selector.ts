import type { ConfigIssue } from '../../xds/config-error';
import { compileHeaderMutations, type HeaderMutation } from './header-mutation';
import type { RouteAction, WeightedCluster } from './route-configuration';
import { checkSupportedFields, fieldPath } from './supported-fields';

/** The upstream cluster picked for one request, with the weighted cluster's own header changes. */
export interface ClusterChoice {
  readonly name: string;
  readonly requestHeaders: HeaderMutation | undefined;
  readonly responseHeaders: HeaderMutation | undefined;
}

/**
 * `cluster` or `weighted_clusters`, compiled. Choices are immutable and shared, so selecting
 * allocates nothing.
 */
export class ClusterSelector {
  constructor(
    private readonly choices: readonly ClusterChoice[],
    /** Running sums of the weights: choice i owns [ends[i-1], ends[i]). */
    private readonly ends: readonly number[],
  ) {}

  /** Some choice carries header mutations of its own. */
  get mutatesHeaders(): boolean {
    return this.choices.some((c) => c.requestHeaders !== undefined || c.responseHeaders !== undefined);
  }

  /** `random` is uniform in [0, 1); passing it in keeps selection deterministic under test. */
  select(random: number): ClusterChoice {
    const choices = this.choices;
    if (choices.length === 1) return choices[0]!;
    const ends = this.ends;
    const point = Math.floor(random * ends[ends.length - 1]!);
    for (let i = 0; i < ends.length; i++) {
      if (point < ends[i]!) return choices[i]!;
    }
    return choices[choices.length - 1]!;
  }
}

export function compileClusterSelector(action: RouteAction, path: string, issues: ConfigIssue[]): ClusterSelector | undefined {
  if (action.weighted_clusters !== undefined) {
    return compileWeightedClusters(action.weighted_clusters, fieldPath(path, 'weighted_clusters'), issues);
  }
  if (!action.cluster) {
    issues.push({ path: fieldPath(path, 'cluster'), message: 'must not be empty' });
    return undefined;
  }
  return new ClusterSelector([{ name: action.cluster, requestHeaders: undefined, responseHeaders: undefined }], [1]);
}

function compileWeightedClusters(config: WeightedCluster, path: string, issues: ConfigIssue[]): ClusterSelector | undefined {
  checkSupportedFields(config, 'WeightedCluster', path, issues);
  const clusters = config.clusters ?? [];
  if (clusters.length === 0) {
    issues.push({ path: fieldPath(path, 'clusters'), message: 'must list at least one cluster' });
    return undefined;
  }
  const choices: ClusterChoice[] = [];
  const ends: number[] = [];
  let total = 0;
  clusters.forEach((cluster, i) => {
    const at = fieldPath(path, `clusters[${i}]`);
    checkSupportedFields(cluster, 'ClusterWeight', at, issues);
    if (!cluster.name) issues.push({ path: fieldPath(at, 'name'), message: 'is required' });
    const mutations = compileHeaderMutations(cluster, at, issues);
    total += cluster.weight ?? 0;
    ends.push(total);
    choices.push({ name: cluster.name ?? '', requestHeaders: mutations.request, responseHeaders: mutations.response });
  });
  if (total === 0) {
    issues.push({ path: fieldPath(path, 'clusters'), message: 'the sum of the weights must be greater than 0' });
  }
  if (config.total_weight !== undefined && config.total_weight > 0 && config.total_weight !== total) {
    issues.push({
      path: fieldPath(path, 'total_weight'),
      message: `is ${config.total_weight} but the weights add up to ${total} (total_weight is deprecated; omit it)`,
    });
  }
  return new ClusterSelector(choices, ends);
}
