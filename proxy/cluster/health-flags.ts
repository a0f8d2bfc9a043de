/**
 * Envoy's host health flags (`Host::HealthFlag`), as bits. A host takes traffic (outside of
 * panic) only when none of the FAILED_* flags is set; the others are informational, as in Envoy.
 */
export const HealthFlag = {
  /** Active health checking says unhealthy (or has not passed a first check yet). */
  FAILED_ACTIVE_HC: 1,
  /** Ejected by outlier detection. */
  FAILED_OUTLIER_CHECK: 2,
  /** EDS / config `health_status` UNHEALTHY, DRAINING or TIMEOUT. */
  FAILED_EDS_HEALTH: 4,
  /** Waiting for its first active health check. */
  PENDING_ACTIVE_HC: 8,
  /** The last failed active health check timed out. */
  ACTIVE_HC_TIMEOUT: 16,
} as const;

/** The flags that take a host out of the healthy set. */
export const FAILED_FLAGS = HealthFlag.FAILED_ACTIVE_HC | HealthFlag.FAILED_OUTLIER_CHECK | HealthFlag.FAILED_EDS_HEALTH;

/** In Envoy's order and spelling (HostUtility::healthFlagsToString). */
const NAMES: readonly [number, string][] = [
  [HealthFlag.FAILED_ACTIVE_HC, '/failed_active_hc'],
  [HealthFlag.FAILED_OUTLIER_CHECK, '/failed_outlier_check'],
  [HealthFlag.FAILED_EDS_HEALTH, '/failed_eds_health'],
  [HealthFlag.PENDING_ACTIVE_HC, '/pending_active_hc'],
  [HealthFlag.ACTIVE_HC_TIMEOUT, '/active_hc_timeout'],
];

/** `/clusters`' `health_flags` value: `healthy`, or the set flags concatenated (`/failed_active_hc/failed_outlier_check`). */
export function healthFlagsToString(flags: number): string {
  let out = '';
  for (const [bit, name] of NAMES) if ((flags & bit) !== 0) out += name;
  return out === '' ? 'healthy' : out;
}
