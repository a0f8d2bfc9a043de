const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function scramble(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/**
 * MurmurHash3 x86_32, seed 0, over the UTF-8 encoding of `s` (lone surrogates encoded as
 * U+FFFD, like Buffer and TextEncoder). It is what the ring hash places hosts with and what
 * the router hashes header, cookie and source-IP values with. The UTF-8 bytes are produced
 * on the fly rather than through a Buffer because the router calls this once per request.
 */
export function hash32(s: string): number {
  let h = 0;
  let block = 0;
  let filled = 0;
  let length = 0;
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const low = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (cp <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    }
    // The encoded bytes, first byte lowest, as the little-endian blocks read them.
    let bytes: number;
    let count: number;
    if (cp < 0x80) {
      bytes = cp;
      count = 1;
    } else if (cp < 0x800) {
      bytes = (0xc0 | (cp >>> 6)) | ((0x80 | (cp & 0x3f)) << 8);
      count = 2;
    } else if (cp < 0x10000) {
      bytes = (0xe0 | (cp >>> 12)) | ((0x80 | ((cp >>> 6) & 0x3f)) << 8) | ((0x80 | (cp & 0x3f)) << 16);
      count = 3;
    } else {
      bytes =
        (0xf0 | (cp >>> 18)) |
        ((0x80 | ((cp >>> 12) & 0x3f)) << 8) |
        ((0x80 | ((cp >>> 6) & 0x3f)) << 16) |
        ((0x80 | (cp & 0x3f)) << 24);
      count = 4;
    }
    length += count;
    for (let b = 0; b < count; b++) {
      block |= ((bytes >>> (8 * b)) & 0xff) << (8 * filled);
      if (++filled === 4) {
        h ^= scramble(block);
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        block = 0;
        filled = 0;
      }
    }
  }
  if (filled > 0) h ^= scramble(block);
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
