import t from 'tap';
import { parseDurationMs } from '../../certs/duration';

t.test('number and unit s, m, h or d', async (t) => {
  const cases: [text: string, ms: number][] = [
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
  ];
  for (const [text, ms] of cases) t.equal(parseDurationMs(text), ms, text);
});

t.test('anything else is undefined', async (t) => {
  for (const text of ['', '24', 'h', '24H', '1w', '-1h', '1.h', ' 1h', '1h ', '1h30m', '250ms']) {
    t.equal(parseDurationMs(text), undefined, JSON.stringify(text));
  }
});
