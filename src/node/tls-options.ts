/**
 * TLS of a node's one listening port and of the connections it dials, with etcd's option names
 * (etcd server/embed/config.go: --cert-file, --key-file, --trusted-ca-file, --client-cert-auth,
 * --peer-cert-file, --peer-key-file, --peer-trusted-ca-file). The byte-level story is in
 * docs/format/wire.md ("TLS"); the user's in docs/cli.md ("TLS").
 *
 * One port serves peers and clients (transport.ts), so the two kinds of connection are told apart
 * in the handshake by the server name (SNI) the dialer sends:
 * - A node dialing another node (peer stream, forwarded request, join) sends PEER_SERVERNAME,
 *   presents its peer certificate and checks the other node's certificate against
 *   peerTrustedCaFile and against the host of the address it dialed (an IP address must be an IP
 *   SAN, a name a DNS SAN: node:tls checkServerIdentity, as etcd's Go crypto/tls).
 * - The server answers PEER_SERVERNAME with the peer context (peer certificate, peer CA) and every
 *   other name with the client context (certFile, trustedCaFile). It always asks for a
 *   certificate; a connection that named PEER_SERVERNAME must present one the peer CA signed, or
 *   it is closed before any frame is read, and only such a connection may carry peer frames.
 *
 * What must hold: files are read once, here, at start; an unreadable or malformed file fails the
 * start with KV_ERR_INVALID_ARGUMENT naming it. Without any option the node speaks plain text.
 */
import { X509Certificate, constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { InvalidArgumentError } from '../errors.js';

/** The server name a node sends when it dials another node: a reserved name (RFC 2606 .invalid). */
export const PEER_SERVERNAME = 'peer.lsmraft.invalid';
/** A handshake that takes longer is dropped (node:tls' own default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * No session tickets, so no resumption (Node keeps no server-side session cache by default): a
 * session resumed under the other server name would carry over the first handshake's verdict.
 */
const NO_RESUMPTION = constants.SSL_OP_NO_TICKET;

/** A node's TLS options (KvNodeOptions), named as etcd's flags. */
export interface NodeTlsOptions {
  /** PEM certificate this node shows to clients (etcd --cert-file). Default: peerCertFile. */
  certFile?: string;
  /** PEM private key of certFile (etcd --key-file). */
  keyFile?: string;
  /** PEM CA that signs client certificates (etcd --trusted-ca-file). */
  trustedCaFile?: string;
  /** Refuse clients without a certificate trustedCaFile signed (etcd --client-cert-auth). */
  clientCertAuth?: boolean;
  /** PEM certificate of this node toward peers, as server and as client (etcd --peer-cert-file). */
  peerCertFile?: string;
  /** PEM private key of peerCertFile (etcd --peer-key-file). */
  peerKeyFile?: string;
  /** PEM CA that signs every member's peer certificate (etcd --peer-trusted-ca-file). */
  peerTrustedCaFile?: string;
}

/** A client's TLS options (KvClientOptions.tls; kvctl --cacert, --cert, --key). */
export interface ClientTlsOptions {
  /** PEM CA that signed the nodes' client-facing certificates. */
  caFile: string;
  /** PEM client certificate, for nodes that run with clientCertAuth. */
  certFile?: string;
  keyFile?: string;
  /** Name checked against the node's certificate (and sent as SNI). Default: the host dialed. */
  servername?: string;
}

/** The node's TLS, resolved: what the transport's server and every dial of another node use. */
export interface NodeTls {
  /** Options of tls.createServer (requestCert, SNICallback, the client context's files). */
  server: tls.TlsOptions;
  /** Options of tls.connect to another node at `host` (a peer stream or a node's client connection). */
  dialPeer(host: string): tls.ConnectionOptions;
}

function bad(message: string): never {
  throw new InvalidArgumentError(message, 'KV_ERR_INVALID_ARGUMENT');
}

function readPem(option: string, file: unknown): Buffer {
  if (typeof file !== 'string' || file.length === 0) bad(`option ${option} must be a file name`);
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code !== 'string') throw err;
    return bad(`option ${option}: cannot read ${file}: ${e.code}`);
  }
}

function readCa(option: string, file: unknown): Buffer {
  const pem = readPem(option, file);
  try {
    new X509Certificate(pem);
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    bad(`option ${option}: ${String(file)} is not a PEM certificate (${err.message})`);
  }
  return pem;
}

/** A certificate and its key, checked together (a key that is not the certificate's fails here). */
function readPair(certOption: string, certFile: unknown, keyOption: string, keyFile: unknown): { cert: Buffer; key: Buffer } {
  const cert = readCa(certOption, certFile);
  const key = readPem(keyOption, keyFile);
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    bad(`options ${certOption}/${keyOption}: ${String(keyFile)} is not the private key of ${String(certFile)} (${err.message})`);
  }
  return { cert, key };
}

/** Reads and checks a node's TLS files; undefined when no TLS option is given (plain text). */
export function resolveNodeTls(o: NodeTlsOptions): NodeTls | undefined {
  const any = [o.certFile, o.keyFile, o.trustedCaFile, o.peerCertFile, o.peerKeyFile, o.peerTrustedCaFile].some((f) => f !== undefined);
  if (!any) {
    if (o.clientCertAuth === true) bad('option clientCertAuth needs trustedCaFile and the peer TLS options');
    return undefined;
  }
  if (o.clientCertAuth !== undefined && typeof o.clientCertAuth !== 'boolean') bad('option clientCertAuth must be a boolean');
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) bad('options certFile and keyFile go together');
  if (o.peerCertFile === undefined || o.peerKeyFile === undefined || o.peerTrustedCaFile === undefined) {
    // Peers and clients share the node's port: once it speaks TLS, peers must too, and peer TLS
    // is mutual (a peer is known by its certificate).
    bad('TLS needs peerCertFile, peerKeyFile and peerTrustedCaFile (peers and clients share one port)');
  }
  if (o.clientCertAuth === true && o.trustedCaFile === undefined) bad('option clientCertAuth needs trustedCaFile');
  const peer = readPair('peerCertFile', o.peerCertFile, 'peerKeyFile', o.peerKeyFile);
  const peerCa = readCa('peerTrustedCaFile', o.peerTrustedCaFile);
  const client = o.certFile === undefined ? peer : readPair('certFile', o.certFile, 'keyFile', o.keyFile);
  const clientCa = o.trustedCaFile === undefined ? undefined : readCa('trustedCaFile', o.trustedCaFile);
  const peerContext = tls.createSecureContext({ ...peer, ca: peerCa, secureOptions: NO_RESUMPTION });
  const clientFiles = { ...client, ...(clientCa === undefined ? {} : { ca: clientCa }), secureOptions: NO_RESUMPTION };
  const clientContext = tls.createSecureContext(clientFiles);
  return {
    server: {
      ...clientFiles,
      requestCert: true,
      // With clientCertAuth every connection must present a certificate its context's CA signed,
      // checked in the handshake. Without it, a client may come without one; the transport then
      // checks that a connection that named PEER_SERVERNAME was authorized (transport.ts).
      rejectUnauthorized: o.clientCertAuth === true,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      SNICallback: (servername, cb) => cb(null, servername === PEER_SERVERNAME ? peerContext : clientContext),
    },
    dialPeer: (host) => ({
      ...peer,
      ca: peerCa,
      servername: PEER_SERVERNAME,
      checkServerIdentity: (_servername, cert) => tls.checkServerIdentity(host, cert),
    }),
  };
}

/** Reads and checks a client's TLS files into tls.connect options (the host is added per dial). */
export function resolveClientTls(o: ClientTlsOptions): tls.ConnectionOptions {
  if (typeof o !== 'object' || o === null) bad('option tls must be an object');
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) bad('options tls.certFile and tls.keyFile go together');
  if (o.servername !== undefined && (typeof o.servername !== 'string' || o.servername.length === 0)) bad('option tls.servername must be a host name');
  const ca = readCa('tls.caFile', o.caFile);
  const pair = o.certFile === undefined ? {} : readPair('tls.certFile', o.certFile, 'tls.keyFile', o.keyFile);
  return { ca, ...pair, ...(o.servername === undefined ? {} : { servername: o.servername }) };
}
