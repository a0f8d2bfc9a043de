// The harness' dead-man switch. It reads "+<pgid>" and "-<pgid>" lines on stdin as the harness starts
// and stops process groups; when stdin closes (the harness finished, or died, even by SIGKILL, which no
// exit hook survives) it kills whatever groups are left: nginx, HAProxy and meshlet cannot watch their
// parent themselves.
const groups = new Set<number>();
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    const pgid = Number(line.slice(1));
    if (!(pgid > 0)) continue;
    if (line[0] === '+') groups.add(pgid);
    else groups.delete(pgid);
  }
});
process.stdin.on('close', () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.exit(0);
});
process.on('SIGINT', () => undefined);
