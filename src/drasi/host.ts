import { isIP } from 'node:net';

/**
 * The server's own host check (drasi-server `src/config/types.rs`,
 * `DrasiServerConfig::validate`): empty, `0.0.0.0`, an IP address or an
 * RFC 1123 hostname. Anything else makes it exit 1 at start, so DRaaS refuses
 * it up front instead of discovering it as a failed start.
 */
export function isValidHost(host: string): boolean {
  return host === '' || host === '0.0.0.0' || isIP(host) !== 0 || isValidHostname(host);
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

function isValidHostname(hostname: string): boolean {
  if (hostname.length > 253) return false;
  return hostname.split('.').every((label) => label.length > 0 && label.length <= 63 && LABEL.test(label));
}
