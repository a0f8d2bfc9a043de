import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full collection once config is applied: decoding a large config leaves tens of MB
 * of garbage that V8 would otherwise keep (and keep resident) until much later.
 * Config changes are rare; this is not for the request path.
 */
export function collectConfigGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
