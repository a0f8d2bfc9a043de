import { ResponseFlag, type ResponseFlags } from './response-flags';

/** Whether a request is gRPC (its content-type), so the proxy's own replies must be gRPC too. */
export function isGrpcRequest(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc');
}

/**
 * The gRPC status of a reply the proxy makes itself, as Envoy maps it (Grpc::Utility::
 * httpToGrpcStatus), except that a timeout is DEADLINE_EXCEEDED, which is what it is.
 */
export function grpcStatusOfLocalReply(httpStatus: number, flags: ResponseFlags): number {
  if (flags.startsWith(ResponseFlag.UpstreamRequestTimeout) || flags.startsWith(ResponseFlag.DurationTimeout)) return 4; // DEADLINE_EXCEEDED
  switch (httpStatus) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** grpc-message's percent-encoding (gRPC over HTTP/2: every byte outside printable ASCII, and '%'). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
