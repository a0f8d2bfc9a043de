import t from 'tap';
import { renewalDelayMs } from '../../certs/rotation';

const HOUR = 3_600_000;
const notBefore = new Date(Date.UTC(2030, 0, 1));
const notAfter = new Date(notBefore.getTime() + 24 * HOUR);

t.test('renews at half the lifetime', async (t) => {
  t.equal(renewalDelayMs(notBefore, notAfter, notBefore.getTime()), 12 * HOUR);
  t.equal(renewalDelayMs(notBefore, notAfter, notBefore.getTime() + 5 * HOUR), 7 * HOUR);
  t.equal(renewalDelayMs(notBefore, notAfter, notBefore.getTime() - HOUR), 13 * HOUR, 'a not-yet-valid certificate waits for its own half-life');
});

t.test('past the half-life it is now, never a negative delay', async (t) => {
  t.equal(renewalDelayMs(notBefore, notAfter, notBefore.getTime() + 12 * HOUR), 0);
  t.equal(renewalDelayMs(notBefore, notAfter, notBefore.getTime() + 20 * HOUR), 0);
  t.equal(renewalDelayMs(notBefore, notAfter, notAfter.getTime() + HOUR), 0, 'already expired');
});
