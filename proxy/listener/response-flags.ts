/**
 * Envoy's response flags: why the proxy, not the upstream, shaped a response.
 * They appear in the access log, in `x-meshlet-response-flags` on local replies,
 * and as a metric label.
 */
export const ResponseFlag = {
  NoRouteFound: 'NR',
  NoClusterFound: 'NC',
  NoHealthyUpstream: 'UH',
  UpstreamConnectionFailure: 'UF',
  UpstreamConnectionTermination: 'UC',
  UpstreamRequestTimeout: 'UT',
  UpstreamOverflow: 'UO',
  UpstreamRetryLimitExceeded: 'URX',
  DownstreamConnectionTermination: 'DC',
  UpstreamProtocolError: 'UPE',
  LocalReset: 'LR',
} as const;

export type ResponseFlag = (typeof ResponseFlag)[keyof typeof ResponseFlag];
