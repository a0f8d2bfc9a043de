/**
 * Structure-aware mutation of protobuf wire bytes, without the schema: the bytes are parsed into a
 * tree of fields (a length-delimited field whose content parses cleanly as fields is taken for a
 * message), one node is changed (dropped, duplicated, emptied, renumbered, retyped, given an extreme
 * varint), and the tree is written back. Dropping a map entry's value or a oneof member, repeating a
 * non-repeated message, or emptying a nested message are what byte flips rarely hit.
 */
import type { Rng } from '../lib/rng';

interface WireField {
  num: number;
  wt: number;
  /** Varint: the value's bytes as read (kept raw: 64-bit values); fixed: raw bytes; length-delimited: the content. */
  raw: Buffer;
  children?: WireField[];
}

function readVarint(b: Buffer, pos: number): [number, number] | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= b.length) return undefined;
    const byte = b[pos + i]!;
    value += (byte & 0x7f) * mul;
    mul *= 128;
    if ((byte & 0x80) === 0) return [value, pos + i + 1];
  }
  return undefined;
}

function writeVarint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** The fields of `b`, or undefined when it does not parse cleanly to its end. */
export function parseWire(b: Buffer, depth = 0): WireField[] | undefined {
  const fields: WireField[] = [];
  let pos = 0;
  while (pos < b.length) {
    const tag = readVarint(b, pos);
    if (!tag) return undefined;
    const [key, afterTag] = tag;
    const num = Math.floor(key / 8);
    const wt = key % 8;
    if (num === 0) return undefined;
    pos = afterTag;
    if (wt === 0) {
      const v = readVarint(b, pos);
      if (!v) return undefined;
      fields.push({ num, wt, raw: b.subarray(pos, v[1]) });
      pos = v[1];
    } else if (wt === 1 || wt === 5) {
      const size = wt === 1 ? 8 : 4;
      if (pos + size > b.length) return undefined;
      fields.push({ num, wt, raw: b.subarray(pos, pos + size) });
      pos += size;
    } else if (wt === 2) {
      const len = readVarint(b, pos);
      if (!len || len[1] + len[0] > b.length) return undefined;
      const content = b.subarray(len[1], len[1] + len[0]);
      const children = depth < 64 && content.length > 0 ? parseWire(content, depth + 1) : undefined;
      fields.push({ num, wt, raw: content, ...(children ? { children } : {}) });
      pos = len[1] + len[0];
    } else return undefined;
  }
  return fields;
}

export function writeWire(fields: readonly WireField[]): Buffer {
  return Buffer.concat(
    fields.map((f) => {
      const tag = writeVarint(f.num * 8 + f.wt);
      if (f.wt !== 2) return Buffer.concat([tag, f.raw]);
      const content = f.children ? writeWire(f.children) : f.raw;
      return Buffer.concat([tag, writeVarint(content.length), content]);
    }),
  );
}

/** Every (list, index) slot of the tree. */
function slots(fields: WireField[], out: [WireField[], number][] = []): [WireField[], number][] {
  fields.forEach((f, i) => {
    out.push([fields, i]);
    if (f.children) slots(f.children, out);
  });
  return out;
}

const EXTREME_VARINTS = [
  Buffer.from([0x00]),
  Buffer.from([0x01]),
  Buffer.from([0x7f]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07]), // 2^31-1
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08]), // 2^31
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), // 2^32-1
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // -1 as int64 / uint64 max
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), // int64 min
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]), // 2^53-1 region
  Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), // 2^53
];

/** One to three structural edits of a message's wire bytes; undefined when the bytes do not parse. */
export function mutateWire(rng: Rng, bytes: Buffer): Buffer | undefined {
  const tree = parseWire(bytes);
  if (!tree || tree.length === 0) return undefined;
  const edits = rng.smallCount(3);
  for (let e = 0; e < edits; e++) {
    const all = slots(tree);
    if (all.length === 0) break;
    const [list, i] = rng.pick(all);
    const f = list[i]!;
    switch (rng.int(9)) {
      case 0:
        list.splice(i, 1);
        break;
      case 1:
        list.splice(i, 0, structuredClone(f));
        break;
      case 2:
        f.children = undefined;
        f.raw = Buffer.alloc(0);
        break;
      case 3:
        f.num = Math.max(1, f.num + rng.pick([-1, 1, 100, 1000]));
        break;
      case 4:
        // Drop one child of a message (a map entry's value, a required field, one of two oneof members).
        if (f.children && f.children.length > 0) f.children.splice(rng.int(f.children.length), 1);
        else list.splice(i, 1);
        break;
      case 5:
        if (f.wt === 0) f.raw = rng.pick(EXTREME_VARINTS);
        else if (f.children) f.children.push({ num: rng.range(1, 20), wt: 0, raw: rng.pick(EXTREME_VARINTS) });
        break;
      case 6: {
        // Another field's value here (same number: repeated scalars, merged messages).
        const [otherList, j] = rng.pick(all);
        list.splice(i, 0, { ...structuredClone(otherList[j]!), num: f.num });
        break;
      }
      case 7:
        // Retype: a varint where a message was, or the other way.
        if (f.wt === 2) {
          f.wt = 0;
          f.children = undefined;
          f.raw = rng.pick(EXTREME_VARINTS);
        } else {
          f.wt = 2;
          f.raw = Buffer.from([0x08, 0x01]);
          f.children = undefined;
        }
        break;
      default:
        if (f.wt === 2 && !f.children) f.raw = Buffer.from(rng.pick(['', '\u0000', '\uFFFD', '\u00ff', 'x'.repeat(100_000), '\ud800']), 'utf8');
        else if (f.children) f.children.reverse();
    }
  }
  return writeWire(tree);
}
