/**
 * Network addresses as the node, its peers and its clients write them: "host:port", or
 * "[v6]:port" for an IPv6 host (the form of RFC 3986's authority). Parsing is the one place an
 * address is checked; everything else passes the string on.
 */
import { InvalidArgumentError } from '../errors.js';

/** "host:port" or "[v6]:port" -> parts. Throws InvalidArgumentError. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new InvalidArgumentError(`bad address "${address}": expected host:port`, 'KV_ERR_INVALID_ARGUMENT');
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
