/**
 * The injected sidecar's lifecycle hooks, as JavaScript for `node -e` (the image has node, not
 * curl).
 */

/**
 * postStart: polls `url` every 250 ms until it answers 2xx (exit 0), or exits 1 after
 * `timeoutS` seconds so a proxy that never gets its config fails its container (which the
 * pod's restart policy retries) instead of holding the pod forever.
 */
export function waitReadyScript(url: string, timeoutS: number): string {
  const gaveUp = JSON.stringify(`meshlet: ${url} not ready within ${timeoutS} s`);
  return (
    `const end = Date.now() + ${timeoutS * 1000}; (async () => { for (;;) { ` +
    `try { if ((await fetch(${JSON.stringify(url)})).ok) process.exit(0); } catch {} ` +
    `if (Date.now() > end) { console.error(${gaveUp}); process.exit(1); } ` +
    `await new Promise((r) => setTimeout(r, 250)); } })();`
  );
}

/**
 * preStop: POSTs `failUrl` (the admin's /healthcheck/fail: readiness fails and a registration
 * is left at once, while the app is told to stop), then waits `delayS` seconds before the
 * kubelet's SIGTERM drains the proxy, so the app's last requests to other services still get
 * through. A failed POST (the admin already gone) does not shorten the wait.
 */
export function preStopScript(failUrl: string, delayS: number): string {
  return (
    `fetch(${JSON.stringify(failUrl)}, { method: 'POST', signal: AbortSignal.timeout(2000) }).catch(() => {}); ` +
    `setTimeout(() => process.exit(0), ${delayS * 1000});`
  );
}
