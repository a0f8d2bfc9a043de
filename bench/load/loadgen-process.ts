import { exitWhenParentExits } from '../child-lifeline';
import type { LoadSpec } from './load-result';
import { runLoadgen, type LoadgenTarget } from './loadgen';

// Entry point of the load generator process (pinned to core 1 by the harness): argv[2] is
// {target, spec} as JSON; the result is one JSON line on stdout.
exitWhenParentExits();
const { target, spec } = JSON.parse(process.argv[2] ?? '{}') as { target: LoadgenTarget; spec: LoadSpec };
runLoadgen(target, spec).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  },
  (err: unknown) => {
    process.stderr.write(`loadgen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
