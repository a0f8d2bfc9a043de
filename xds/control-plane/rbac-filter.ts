/** A service's `authorization`, as the RBAC HTTP filter its sidecars' inbound listener runs before the router. */

/**
 * Only callers whose verified certificate carries one of `allowFrom` (URI SAN): any request
 * without a client certificate (plaintext, under PERMISSIVE) is refused with 403.
 */
export function rbacFilter(allowFrom: readonly string[]): Record<string, unknown> {
  return {
    name: 'envoy.filters.http.rbac',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
      rules: {
        action: 'ALLOW',
        policies: {
          'allow-from': {
            permissions: [{ any: true }],
            principals: allowFrom.map((id) => ({ authenticated: { principal_name: { exact: id } } })),
          },
        },
      },
    },
  };
}
