/**
 * Refuses a request whose `Host` the API does not answer for: 421
 * Misdirected Request (RFC 9110 §15.5.20, "not able or willing to produce an
 * authoritative response for the target URI").
 *
 * This is the defence against DNS rebinding: a page of `evil.example` whose
 * name the attacker re-points at 127.0.0.1 reaches a local API as if it were
 * its own origin, so no Origin check can tell — but its requests still say
 * `Host: evil.example`.
 *
 * Always served: an IP literal (`127.0.0.1`, `[::1]`, `10.0.0.5`) and
 * `localhost`, with any port. Neither is a name an attacker can point at
 * this server, and accepting them needs no knowledge of the address the app
 * is bound to (it may be mounted in someone else's server). Any other name
 * must be listed — `draas.internal` (any port) or `draas.internal:443` (that
 * port only) — or every Host accepted with `*` (behind a proxy that checks
 * Host itself). A request without a Host (HTTP/1.0) is served: browsers
 * always send one.
 *
 * Left out: `X-Forwarded-Host` is not read (a client could send any); a
 * proxy in front passes the public Host through, or rewrites it to the
 * upstream's address.
 */
import { isIP } from 'node:net';
import type { Context, Next } from 'koa';
import { DraasError } from '../errors.js';

/** One `allowedHosts` entry: a host name, an optional pinned port; or `*`. */
export type AllowedHost = '*' | { hostname: string; port?: number };

// Underscores too: not RFC 1123, but common in container and service names.
const dnsLabel = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const dnsName = new RegExp(`^(?=.{1,253}$)${dnsLabel}(?:\\.${dnsLabel})*$`);

/** `name`, `name:port`, `[v6]`, `[v6]:port`, `v4:port`, lower-cased; undefined when malformed. */
export function splitHostPort(value: string): { hostname: string; port?: number } | undefined {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value.trim().toLowerCase());
  if (!match) return undefined;
  const hostname = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  if (match[1]!.startsWith('[') && isIP(hostname) !== 6) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && port > 65535) return undefined;
  return port === undefined ? { hostname } : { hostname, port };
}

/** Parses an `allowedHosts` entry; throws an Error that names it when it is not one. */
export function parseAllowedHost(entry: string): AllowedHost {
  if (entry.trim() === '*') return '*';
  const parsed = splitHostPort(entry);
  if (!parsed || (isIP(parsed.hostname) === 0 && !dnsName.test(parsed.hostname))) {
    throw new Error(`allowed host "${entry}" is not a host name, IP address or name:port (or * for any)`);
  }
  return parsed;
}

/** Whether the API answers for this `Host` header value. */
export function hostAllowed(header: string, allowed: readonly AllowedHost[]): boolean {
  if (allowed.includes('*')) return true;
  const host = splitHostPort(header);
  if (!host) return false;
  if (host.hostname === 'localhost' || isIP(host.hostname) !== 0) return true;
  return allowed.some((entry) => entry !== '*' && entry.hostname === host.hostname && (entry.port === undefined || entry.port === host.port));
}

export function hostCheck(allowedHosts: readonly AllowedHost[]) {
  return async function checkHost(ctx: Context, next: Next): Promise<void> {
    const host = ctx.get('Host');
    if (host !== '' && !hostAllowed(host, allowedHosts)) {
      throw new DraasError(
        'host-not-allowed',
        `this API does not answer for Host "${host}": only for IP addresses, localhost and the names it is given ` +
          '(--allowed-hosts / DRAAS_ALLOWED_HOSTS, or allowedHosts of createHttpApp)',
        { host },
      );
    }
    await next();
  };
}
