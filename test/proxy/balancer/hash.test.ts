import fc from 'fast-check';
import t from 'tap';
import { hash32 } from '../../../proxy/balancer/hash';

/** Textbook MurmurHash3 x86_32 (seed 0) over bytes, to check the streaming UTF-8 version against. */
function murmur3Bytes(bytes: Uint8Array): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const blocks = bytes.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = bytes.length & 3;
  if (tail > 0) {
    let k = 0;
    for (let j = tail - 1; j >= 0; j--) k = (k << 8) | bytes[blocks + j];
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

t.test('matches published MurmurHash3 x86_32 seed-0 values', async (t) => {
  t.equal(hash32(''), 0);
  t.equal(hash32('hello'), 0x248bfa47);
  t.equal(hash32('test'), 0xba6bd213);
  t.equal(hash32('The quick brown fox jumps over the lazy dog'), 0x2e4ff723);
});

t.test('hashes the UTF-8 bytes, multi-byte characters included', async (t) => {
  for (const s of ['é', 'ü-ß', '日本語', '😀', 'a😀b', 'user-42;région=éu']) {
    t.equal(hash32(s), murmur3Bytes(Buffer.from(s, 'utf8')), s);
  }
  t.not(hash32('é'), hash32('\u00e9'.normalize('NFD')), 'different byte sequences');
});

t.test('equals the byte version over Buffer for any UTF-16 string, lone surrogates included', async (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary' }),
        fc.array(fc.integer({ min: 0, max: 0xffff })).map((units) => String.fromCharCode(...units)),
      ),
      (s) => hash32(s) === murmur3Bytes(Buffer.from(s, 'utf8')),
    ),
    { numRuns: 2000 },
  );
  t.pass('property held');
});

t.test('returns a uint32', async (t) => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      const h = hash32(s);
      return Number.isInteger(h) && h >= 0 && h <= 0xffffffff;
    }),
  );
  t.pass('property held');
});
