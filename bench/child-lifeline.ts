import { fstatSync } from 'node:fs';

/**
 * The harness gives its Node children a stdin pipe: when the harness dies, even by SIGKILL, the pipe
 * closes and the child exits instead of lingering as an orphan holding a port and a core. Run by hand
 * (stdin a terminal or /dev/null), the child does not watch stdin.
 */
export function exitWhenParentExits(): void {
  let stdin;
  try {
    stdin = fstatSync(0);
  } catch {
    return;
  }
  if (!stdin.isFIFO() && !stdin.isSocket()) return;
  const leave = (why: string): void => {
    process.stderr.write(`${why}: exiting\n`);
    process.exit(0);
  };
  process.stdin.on('end', () => leave('the harness closed stdin'));
  process.stdin.on('error', (err) => leave(`stdin failed (${err.message})`));
  process.stdin.resume();
}
