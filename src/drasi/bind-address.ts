import { isIP } from 'node:net';

/**
 * Where a listener bound on `host` can be reached from:
 * - `loopback`: this host only (127.0.0.0/8, ::1, `localhost`);
 * - `all-interfaces`: every interface (0.0.0.0, ::, and every spelling of
 *   them that an address parser or `getaddrinfo` turns into one: `0`, `0x0`,
 *   `0.0`, `[::]`, `::ffff:0.0.0.0`, and the empty host);
 * - `other`: anything else — a specific address of another interface, or a
 *   name whose address only a resolver knows (names are never resolved here).
 *
 * Pure: no name lookups. Numeric forms are read with the WHATWG URL host
 * parser, which accepts the same short, octal and hex IPv4 forms as
 * `inet_aton` (what the server's resolver falls back to for a host that is not
 * a plain address).
 */
export type BindScope = 'loopback' | 'all-interfaces' | 'other';

export function bindScope(host: string): BindScope {
  if (host.trim() === '') return 'all-interfaces';
  let address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  // An IPv6 zone (fe80::1%eth0) does not change which address is bound.
  if (address.includes(':')) address = address.replace(/%.*$/, '');
  const normal = normalise(address);
  if (normal === undefined) return 'other';
  if (normal === '0.0.0.0' || normal === '[::]' || normal === '[::ffff:0:0]') return 'all-interfaces';
  if (normal === 'localhost' || normal === '[::1]' || /^127\./.test(normal) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(normal)) {
    return 'loopback';
  }
  return 'other';
}

/** The URL parser's canonical form of a host (IPv4 dotted quad, bracketed compressed IPv6, lower-case name). */
function normalise(address: string): string | undefined {
  const literal = isIP(address) === 6 ? `[${address}]` : address;
  try {
    return new URL(`http://${literal}/`).hostname;
  } catch {
    return undefined;
  }
}
