/** A filter chain's `filter_chain_match`: the subset meshlet implements. */
export interface FilterChainMatch {
  /** `tls` (the TLS inspector saw a ClientHello) or `raw_buffer`; undefined matches either. */
  readonly transportProtocol: string | undefined;
  /** SNI values, exact or `*.suffix`, lowercase; empty matches any (and no) SNI. */
  readonly serverNames: readonly string[];
}

/** What is known about a new connection when its filter chain is chosen. */
export interface ConnectionFacts {
  readonly transportProtocol: 'tls' | 'raw_buffer';
  readonly serverName: string | undefined;
}

/**
 * Envoy's filter chain selection: criterion by criterion, in Envoy's order (server names, then
 * transport protocol), the most specific chains that match win and the rest drop out. A
 * server name matches exactly first, then `*.` wildcards from the longest suffix
 * (`a.b.example.com`: `*.b.example.com`, then `*.example.com`, then `*.com`).
 */
export function selectFilterChain<T extends { readonly match: FilterChainMatch }>(chains: readonly T[], facts: ConnectionFacts): T | undefined {
  const byName = matchServerName(chains, facts.serverName?.toLowerCase());
  return byName.find((c) => c.match.transportProtocol === facts.transportProtocol) ?? byName.find((c) => c.match.transportProtocol === undefined);
}

function matchServerName<T extends { readonly match: FilterChainMatch }>(chains: readonly T[], serverName: string | undefined): readonly T[] {
  if (serverName !== undefined && serverName !== '') {
    const exact = chains.filter((c) => c.match.serverNames.includes(serverName));
    if (exact.length > 0) return exact;
    for (let dot = serverName.indexOf('.'); dot !== -1; dot = serverName.indexOf('.', dot + 1)) {
      const wildcard = `*${serverName.slice(dot)}`;
      const matching = chains.filter((c) => c.match.serverNames.includes(wildcard));
      if (matching.length > 0) return matching;
    }
  }
  return chains.filter((c) => c.match.serverNames.length === 0);
}
