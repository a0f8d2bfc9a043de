import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A minimal RFC 6455 WebSocket for the tests, on node's HTTP upgrade: whole frames only (no
 * fragmentation, no extensions), which is all the tests send. No dependency, so what the proxy
 * carries is bytes the tests framed themselves.
 */

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const TEXT = 0x1;
export const BINARY = 0x2;
export const CLOSE = 0x8;

export interface Frame {
  readonly opcode: number;
  readonly payload: Buffer;
}

function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One frame; clients mask theirs (RFC 6455 §5.3), servers do not. */
export function encodeFrame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0));
  header[0] = 0x80 | opcode;
  header[1] = (mask ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  else if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!mask) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  key.copy(header, 2 + lengthBytes);
  const masked = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([header, masked]);
}

/** Reassembles frames from a byte stream. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) break;
      const masked = (b[1]! & 0x80) !== 0;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) break;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) break;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const keyAt = offset;
      if (masked) offset += 4;
      if (b.length < offset + length) break;
      const payload = Buffer.from(b.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < length; i++) payload[i] = payload[i]! ^ b[keyAt + (i & 3)]!;
      frames.push({ opcode: b[0]! & 0x0f, payload });
      this.buffer = b.subarray(offset + length);
    }
    return frames;
  }
}

export interface EchoUpgrades {
  /** The headers of each upgrade request, by the `id` query parameter. */
  readonly requests: Map<string, IncomingHttpHeaders>;
  /** Resolves when the upstream side of WebSocket `id` has closed. */
  closed(id: string): Promise<void>;
}

/**
 * Makes `server` a WebSocket echo: every data frame comes back with its opcode, a close frame is
 * answered and the connection ended. Paths: `/.../bye` says "bye" and closes right after the
 * upgrade; `/.../reject` answers 403 with a body instead of upgrading; `/.../slow` upgrades after 1 s.
 */
export function serveWebSocketEcho(server: Server): EchoUpgrades {
  const requests = new Map<string, IncomingHttpHeaders>();
  const closed = new Map<string, Promise<void>>();
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const id = url.searchParams.get('id') ?? '';
    requests.set(id, req.headers);
    closed.set(id, new Promise((resolve) => socket.once('close', () => resolve())));
    socket.on('error', () => socket.destroy());
    // node leaves an upgraded server socket half-open on the peer's FIN; a WebSocket server closes.
    socket.on('end', () => socket.end());
    if (url.pathname.endsWith('/reject')) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nx-reason: no websockets here\r\ncontent-length: 5\r\nconnection: close\r\n\r\nnope\n');
      return;
    }
    const upgrade = () => {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${acceptKey(String(req.headers['sec-websocket-key']))}\r\nx-upstream: echo\r\n\r\n`,
      );
      if (url.pathname.endsWith('/bye')) {
        socket.write(encodeFrame(TEXT, Buffer.from('bye'), false));
        socket.end(encodeFrame(CLOSE, Buffer.alloc(0), false));
        return;
      }
      const reader = new FrameReader();
      const onData = (chunk: Buffer) => {
        for (const frame of reader.push(chunk)) {
          if (frame.opcode === CLOSE) return socket.end(encodeFrame(CLOSE, frame.payload, false));
          socket.write(encodeFrame(frame.opcode, frame.payload, false));
        }
      };
      socket.on('data', onData);
      if (head.length > 0) onData(head);
    };
    if (url.pathname.endsWith('/slow')) setTimeout(upgrade, 1000);
    else upgrade();
  });
  return { requests, closed: (id) => closed.get(id) ?? Promise.reject(new Error(`no WebSocket ${id}`)) };
}

/** A client WebSocket, connected. */
export interface WebSocketClient {
  readonly socket: Socket;
  readonly response: IncomingMessage;
  send(opcode: number, payload: Buffer): void;
  /** The next data frame (or close frame) from the server. */
  next(): Promise<Frame>;
  /** Resolves when the connection has closed. */
  readonly closed: Promise<void>;
}

export type UpgradeResult = { kind: 'upgraded'; ws: WebSocketClient } | { kind: 'response'; response: IncomingMessage; body: string };

/** Sends a WebSocket upgrade request to `port`; `headers` may replace the upgrade ones (e.g. `upgrade: foo`). */
export function connectWebSocket(port: number, path: string, headers: Record<string, string> = {}): Promise<UpgradeResult> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key, ...headers },
    });
    req.on('error', reject);
    req.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (d: string) => (body += d));
      response.on('end', () => resolve({ kind: 'response', response, body }));
    });
    req.on('upgrade', (response: IncomingMessage, socket: Socket, head: Buffer) => {
      if (response.headers['sec-websocket-accept'] !== acceptKey(key)) reject(new Error('bad sec-websocket-accept'));
      const reader = new FrameReader();
      const frames: Frame[] = [];
      const waiting: ((frame: Frame) => void)[] = [];
      const deliver = (chunk: Buffer) => {
        for (const frame of reader.push(chunk)) {
          const waiter = waiting.shift();
          if (waiter !== undefined) waiter(frame);
          else frames.push(frame);
        }
      };
      socket.on('data', deliver);
      socket.on('error', () => socket.destroy());
      if (head.length > 0) deliver(head);
      const closed = new Promise<void>((resolveClose) => socket.once('close', () => resolveClose()));
      resolve({
        kind: 'upgraded',
        ws: {
          socket,
          response,
          closed,
          send: (opcode, payload) => socket.write(encodeFrame(opcode, payload, true)),
          next: () => {
            const frame = frames.shift();
            if (frame !== undefined) return Promise.resolve(frame);
            return new Promise<Frame>((resolveFrame, rejectFrame) => {
              waiting.push(resolveFrame);
              void closed.then(() => rejectFrame(new Error('closed before a frame came')));
            });
          },
        },
      });
    });
    req.end();
  });
}
