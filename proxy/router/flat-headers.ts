/**
 * Headers as the proxy carries them: `[name0, value0, name1, value1, ...]`, names lowercase.
 * These helpers work in place and allocate only for what they return.
 */
export type FlatHeaders = string[];

/** Index of the next entry named `name` at or after entry index `from`, or -1. */
export function nextHeaderIndex(headers: readonly string[], name: string, from = 0): number {
  for (let i = from; i < headers.length; i += 2) {
    if (headers[i] === name) return i;
  }
  return -1;
}

export function hasHeader(headers: readonly string[], name: string): boolean {
  return nextHeaderIndex(headers, name) !== -1;
}

export function firstHeaderValue(headers: readonly string[], name: string): string | undefined {
  const i = nextHeaderIndex(headers, name);
  return i === -1 ? undefined : headers[i + 1];
}

/** All values of `name` joined with ",", as Envoy presents a repeated header to matchers. */
export function joinedHeaderValue(headers: readonly string[], name: string): string | undefined {
  let i = nextHeaderIndex(headers, name);
  if (i === -1) return undefined;
  let value = headers[i + 1]!;
  while ((i = nextHeaderIndex(headers, name, i + 2)) !== -1) value += `,${headers[i + 1]}`;
  return value;
}

export function removeHeader(headers: FlatHeaders, name: string): void {
  removeHeaderFrom(headers, name, 0);
}

/** Replaces every value of `name` with one, keeping the position of the first occurrence. */
export function setHeader(headers: FlatHeaders, name: string, value: string): void {
  const i = nextHeaderIndex(headers, name);
  if (i === -1) {
    headers.push(name, value);
    return;
  }
  headers[i + 1] = value;
  removeHeaderFrom(headers, name, i + 2);
}

/** Removes the entries named `name` at or after entry index `from`, compacting in place. */
function removeHeaderFrom(headers: FlatHeaders, name: string, from: number): void {
  let write = nextHeaderIndex(headers, name, from);
  if (write === -1) return;
  for (let read = write + 2; read < headers.length; read += 2) {
    if (headers[read] !== name) {
      headers[write] = headers[read]!;
      headers[write + 1] = headers[read + 1]!;
      write += 2;
    }
  }
  headers.length = write;
}
