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
  DurationTimeout: 'DT',
  StreamIdleTimeout: 'SI',
  UpstreamMaxStreamDurationReached: 'UMSDR',
  OverloadManager: 'OM',
} as const;

export type ResponseFlag = (typeof ResponseFlag)[keyof typeof ResponseFlag];

/**
 * One or more flags as Envoy's %RESPONSE_FLAGS% prints them: comma-separated, in Envoy's
 * order (UH, UT, LR, UR, UF, UC, UO, NR, ..., DC, URX), e.g. `UF,URX` when the last attempt
 * failed to connect and the retries ran out.
 */
export type ResponseFlags = ResponseFlag | `${ResponseFlag},${ResponseFlag}` | '';

/** `primary` with `extra` (UO or URX, which Envoy prints after the failure's own flag). */
export function withFlag(primary: ResponseFlag, extra: ResponseFlag | undefined): ResponseFlags {
  return extra === undefined ? primary : `${primary},${extra}`;
}
