import t from 'tap';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type PeerCertificate } from 'node:tls';
import { createCertificateAuthority } from '../../certs/certificate-authority';
import { issueWorkloadCertificate, type WorkloadCertificate } from '../../certs/workload-certificate';

const DAY = 86_400_000;
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/server';
const ca = createCertificateAuthority({ trustDomain: 'cluster.local' });
const otherCa = createCertificateAuthority({ trustDomain: 'cluster.local' });
const issue = (spiffeId: string, options: { notBefore?: Date; ttlMs?: number } = {}, by = ca) =>
  issueWorkloadCertificate(by, { spiffeId, ttlMs: options.ttlMs ?? DAY, notBefore: options.notBefore });
const client = issue(CLIENT_ID);
const server = issue(SERVER_ID);

interface Outcome {
  /** What the server saw, when the handshake got as far as its secureConnection. */
  readonly server?: { authorized: boolean; authorizationError?: string; peerSan?: string };
  /** Why the server dropped the connection, when it did. */
  readonly serverError?: string;
  readonly clientError?: string;
  /** The server's reply, received only after both sides accepted the handshake. */
  readonly reply: string;
}

/**
 * One connection over 127.0.0.1 from `clientCert` to `serverCert`, both trusting the mesh's root
 * (so a stranger's certificate is judged by the other side, not refused by its own). The client
 * checks the server's SPIFFE ID instead of a host name. With `serverRejects: false` the server
 * accepts anyone and reports its verdict instead.
 */
function handshake(clientCert: WorkloadCertificate, serverCert: WorkloadCertificate, serverRejects = true): Promise<Outcome> {
  return new Promise((resolve) => {
    let outcome: Outcome = { reply: '' };
    const tlsServer = createServer(
      { cert: serverCert.certChainPem, key: serverCert.keyPem, ca: ca.rootCertPem, requestCert: true, rejectUnauthorized: serverRejects },
      (socket) => {
        const peer = socket.getPeerCertificate();
        outcome = { ...outcome, server: { authorized: socket.authorized, authorizationError: socket.authorizationError?.toString(), peerSan: peer.subjectaltname } };
        socket.end('hello');
      },
    );
    tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException) => (outcome = { ...outcome, serverError: err.code ?? err.message }));
    tlsServer.listen(0, '127.0.0.1', () => {
      const socket = connect({
        host: '127.0.0.1',
        port: (tlsServer.address() as AddressInfo).port,
        cert: clientCert.certChainPem,
        key: clientCert.keyPem,
        ca: ca.rootCertPem,
        rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          cert.subjectaltname === `URI:${SERVER_ID}` ? undefined : new Error(`unexpected server identity ${cert.subjectaltname}`),
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (outcome = { ...outcome, reply: outcome.reply + chunk }));
      socket.on('error', (err: NodeJS.ErrnoException) => (outcome = { ...outcome, clientError: err.code ?? err.message }));
      socket.on('close', () => tlsServer.close(() => resolve(outcome)));
    });
  });
}

t.test('two workloads of one CA complete mutual TLS and the server sees the client\'s SPIFFE ID', async (t) => {
  const outcome = await handshake(client, server);
  t.same(outcome, { server: { authorized: true, authorizationError: undefined, peerSan: `URI:${CLIENT_ID}` }, reply: 'hello' });
});

t.test('the client refuses a server whose SPIFFE ID is not the expected one', async (t) => {
  const outcome = await handshake(client, issue('spiffe://cluster.local/ns/default/sa/impostor'));
  t.equal(outcome.reply, '');
  t.match(outcome.clientError ?? '', /unexpected server identity URI:spiffe:\/\/cluster.local\/ns\/default\/sa\/impostor/);
});

t.test('a certificate from another CA, even for the same trust domain, is refused', async (t) => {
  const stranger = issue(CLIENT_ID, {}, otherCa);
  const rejected = await handshake(stranger, server);
  t.equal(rejected.reply, '', 'no data reaches a client the server refused');
  t.equal(rejected.server, undefined);
  t.ok(rejected.serverError, 'the server dropped the connection');
  t.match((await handshake(stranger, server, false)).server, { authorized: false, authorizationError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });
  const strangeServer = issue(SERVER_ID, {}, otherCa);
  t.same(await handshake(client, strangeServer), { clientError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', reply: '' });
});

t.test('an expired certificate is refused on either side', async (t) => {
  const expired = (id: string) => issue(id, { notBefore: new Date(Date.now() - 2 * DAY), ttlMs: DAY });
  t.match((await handshake(expired(CLIENT_ID), server, false)).server, { authorized: false, authorizationError: 'CERT_HAS_EXPIRED' });
  t.same(await handshake(client, expired(SERVER_ID)), { clientError: 'CERT_HAS_EXPIRED', reply: '' });
});

t.test('a not-yet-valid certificate is refused on either side', async (t) => {
  const early = (id: string) => issue(id, { notBefore: new Date(Date.now() + DAY), ttlMs: DAY });
  t.match((await handshake(early(CLIENT_ID), server, false)).server, { authorized: false, authorizationError: 'CERT_NOT_YET_VALID' });
  t.same(await handshake(client, early(SERVER_ID)), { clientError: 'CERT_NOT_YET_VALID', reply: '' });
});
