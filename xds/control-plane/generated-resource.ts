/** An Envoy resource as the control plane generates it: proto3 JSON, as a person would write it. */
export interface GeneratedResource {
  readonly name: string;
  readonly json: Readonly<Record<string, unknown>>;
  /**
   * Sent only to clients that ask for it by name, never as part of a wildcard subscription:
   * API listeners for proxyless gRPC, which a sidecar's wildcard LDS must not receive.
   */
  readonly onDemand?: boolean;
}

/** Envoy's ConfigSource for "over the same ADS stream". */
export const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;
