/**
 * The image's key properties (no Docker engine here to build it): two stages, production
 * dependencies only, a non-root numeric user, iptables for the init step, `meshlet` as the
 * entrypoint, and a health check on the default command's admin port.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIDECAR_DEFAULTS } from '../../cli/modes/sidecar-defaults';

const ROOT = join(__dirname, '..', '..', '..');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'));
const all = (keyword: string) => instructions.filter((line) => line.startsWith(`${keyword} `));
const last = (keyword: string) => all(keyword).at(-1) ?? '';

t.test('multi-stage: build on node 20 with dev dependencies, run with production ones only', async (t) => {
  t.same(all('FROM'), ['FROM node:20-bookworm-slim AS build', 'FROM node:20-bookworm-slim']);
  const stages = instructions.join('\n').split(/^FROM /m);
  t.match(stages[1], /RUN npm ci --ignore-scripts/);
  t.match(stages[1], /RUN npm run build/);
  t.match(stages[2], /RUN npm ci --omit=dev --ignore-scripts/);
  t.match(stages[2], 'COPY --from=build /app/dist ./dist');
  t.notMatch(stages[2], /npm (run build|install)/);
});

t.test('iptables from Debian, lean (no recommends, lists removed)', async (t) => {
  const apt = all('RUN').find((line) => line.includes('apt-get install'))!;
  t.match(apt, /apt-get update .*apt-get install -y --no-install-recommends iptables=\S+ .*rm -rf \/var\/lib\/apt\/lists\/\*/);
});

t.test('runs as the non-root meshlet user, uid 1337, by number', async (t) => {
  t.match(all('RUN').join('\n'), `useradd --system --uid ${SIDECAR_DEFAULTS.uid} --gid meshlet`);
  t.equal(last('USER'), `USER ${SIDECAR_DEFAULTS.uid}:${SIDECAR_DEFAULTS.uid}`);
});

t.test('ENTRYPOINT meshlet (a symlink on the PATH), CMD a sidecar, HEALTHCHECK on its admin /ready', async (t) => {
  t.match(all('RUN').join('\n'), 'ln -s /app/bin/meshlet.js /usr/local/bin/meshlet');
  t.equal(last('ENTRYPOINT'), 'ENTRYPOINT ["meshlet"]');
  t.equal(last('CMD'), 'CMD ["proxy", "--mode", "sidecar"]');
  t.match(last('HEALTHCHECK'), /^HEALTHCHECK .*CMD \["node", "-e", ".*http:\/\/127\.0\.0\.1:(\d+)\/ready/);
  t.match(last('HEALTHCHECK'), `127.0.0.1:${SIDECAR_DEFAULTS.adminPort}/ready`);
});

t.test('.dockerignore keeps the context small', async (t) => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['.git', 'node_modules', 'dist', 'bench/results', '.tap']) t.ok(ignored.includes(entry), entry);
});
