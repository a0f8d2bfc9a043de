import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pinned, type ProcessRegistry } from '../processes';
import type { LoadResult, LoadSpec } from './load-result';
import { parseWrkOutput, wrkArgs, wrkLuaScript } from './wrk';

/** Where load comes from: the target, the core it runs on, and whether wrk may be used. */
export interface LoadContext {
  procs: ProcessRegistry;
  port: number;
  core: number;
  useWrk: boolean;
  tmpDir: string;
  timeoutSec: number;
}

const LOADGEN_ENTRY = path.join(__dirname, 'loadgen-process.js');

/**
 * wrk for closed loops when present (C, so the generator takes less of the core it shares with the
 * upstream); the Node loadgen for fixed rates, which wrk 4 cannot do, and for closed loops without wrk.
 */
export async function runLoad(ctx: LoadContext, spec: LoadSpec): Promise<LoadResult> {
  const bound = (spec.durationSec + ctx.timeoutSec) * 1000 + 15_000;
  if (spec.mode === 'closed' && ctx.useWrk) {
    const scriptPath = path.join(ctx.tmpDir, 'wrk-report.lua');
    writeFileSync(scriptPath, wrkLuaScript());
    const [cmd, args] = pinned(ctx.core, 'wrk', wrkArgs({ url: `http://127.0.0.1:${ctx.port}/`, connections: spec.connections, durationSec: spec.durationSec, timeoutSec: ctx.timeoutSec, scriptPath }));
    const r = await ctx.procs.run('wrk', cmd, args, bound);
    if (r.code !== 0) throw new Error(`wrk failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.slice(-500)}`);
    return parseWrkOutput(r.stdout, spec);
  }
  const target = { host: '127.0.0.1', port: ctx.port, path: '/', timeoutSec: ctx.timeoutSec };
  const [cmd, args] = pinned(ctx.core, process.execPath, [LOADGEN_ENTRY, JSON.stringify({ target, spec })]);
  const r = await ctx.procs.run('loadgen', cmd, args, bound);
  if (r.code !== 0) throw new Error(`loadgen failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as LoadResult;
}
