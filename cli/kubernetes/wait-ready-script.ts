/**
 * JavaScript for `node -e` (the image has node, not curl): polls `url` every 250 ms until it
 * answers 2xx (exit 0), or exits 1 after `timeoutS` seconds so a proxy that never gets its config
 * fails its container (which the pod's restart policy retries) instead of holding the pod forever.
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
