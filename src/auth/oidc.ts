/**
 * Bearer JWTs from an OpenID Connect issuer, verified with `jose` against the
 * issuer's published keys: discovery (`<issuer>/.well-known/openid-configuration`)
 * gives the `jwks_uri`; the key set is fetched and cached by jose, and fetched
 * again when a token names a key id it does not know (key rotation), at most
 * once per `jwksCooldownMs`. Only asymmetric algorithms are accepted (no
 * `none`, no HS*: a shared secret would have to live here); issuer, audience,
 * expiry and not-before are checked with a small clock tolerance.
 *
 * The role comes from a claim (default `roles`; a dotted path such as
 * `realm_access.roles` reaches into objects) holding a string or an array of
 * strings; of the values viewer, operator and admin the highest wins, others
 * are ignored. A valid token without one is authenticated but may call only
 * public operations (403 elsewhere, naming the claim).
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { DraasError, errorMessage } from '../errors.js';
import { roles, type Role } from '../http/operations.js';

export const DEFAULT_ROLE_CLAIM = 'roles';
/** How long a failed discovery is remembered before it is tried again. */
const DISCOVERY_RETRY_MS = 5_000;
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export interface OidcOptions {
  /** The issuer URL, exactly as tokens name it in `iss` (e.g. `https://login.example.com/realms/ops`). */
  issuer: string;
  /** What tokens must name in `aud` (the client id DRaaS is registered as). */
  audience: string;
  /** The claim holding the role(s) (default `roles`). */
  roleClaim?: string;
  /** Allowed clock skew in seconds (default 30). */
  clockToleranceSeconds?: number;
  /** Least time between two fetches of the key set for an unknown key id (default 30 000 ms). */
  jwksCooldownMs?: number;
  /** Bound on fetching the discovery document and the key set (default 5 000 ms). */
  fetchTimeoutMs?: number;
}

/** A verified token's caller; `role` is undefined when the claim names none of the roles. */
export interface OidcIdentity {
  subject: string;
  issuer: string;
  role: Role | undefined;
}

const discoverySchema = z.object({ issuer: z.string(), jwks_uri: z.url() });

/** The highest role a claim value names, if any. */
export function roleFromClaim(value: unknown): Role | undefined {
  const values = typeof value === 'string' ? value.split(/[\s,]+/) : Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
  let best: Role | undefined;
  for (const item of values) {
    const index = (roles as readonly string[]).indexOf(item);
    if (index >= 0 && (best === undefined || index > roles.indexOf(best))) best = roles[index];
  }
  return best;
}

/** A claim by a dotted path (`realm_access.roles`); a claim whose own name has a dot is found too. */
export function claimAt(payload: JWTPayload, claim: string): unknown {
  if (Object.hasOwn(payload, claim)) return payload[claim];
  let value: unknown = payload;
  for (const part of claim.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Whether a bearer token is shaped like a JWS (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

export class OidcVerifier {
  readonly issuer: string;
  readonly audience: string;
  readonly roleClaim: string;
  private readonly clockTolerance: number;
  private readonly cooldownMs: number;
  private readonly fetchTimeoutMs: number;
  private keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  /** Throws a RangeError on an issuer that is not an http(s) URL or an empty audience. */
  constructor(options: OidcOptions) {
    const issuer = parseIssuer(options.issuer);
    if (options.audience.trim() === '') throw new RangeError('the OIDC audience must not be empty');
    this.issuer = issuer;
    this.audience = options.audience;
    this.roleClaim = options.roleClaim ?? DEFAULT_ROLE_CLAIM;
    this.clockTolerance = options.clockToleranceSeconds ?? 30;
    this.cooldownMs = options.jwksCooldownMs ?? 30_000;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 5_000;
  }

  /**
   * The caller of a valid token; undefined for an invalid one (bad signature,
   * unknown key, expired, wrong issuer or audience). Throws
   * `DraasError('unavailable')` when the issuer cannot be reached.
   */
  async verify(token: string): Promise<OidcIdentity | undefined> {
    const keySet = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: [...OIDC_ALGORITHMS],
        clockTolerance: this.clockTolerance,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) {
        throw new DraasError('unavailable', `cannot fetch the keys of the OIDC issuer ${this.issuer}: ${errorMessage(error)}`);
      }
      return undefined;
    }
    return { subject: payload.sub!, issuer: this.issuer, role: roleFromClaim(claimAt(payload, this.roleClaim)) };
  }

  /**
   * Discovery once; a failed discovery is answered from memory for a few
   * seconds (every request would otherwise wait on an issuer that is down),
   * then tried again.
   */
  private keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    this.keys ??= this.discover().catch((error: unknown) => {
      setTimeout(() => (this.keys = undefined), DISCOVERY_RETRY_MS).unref();
      throw error;
    });
    return this.keys;
  }

  private async discover(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const url = `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let document: unknown;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.fetchTimeoutMs), headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      document = await response.json();
    } catch (error) {
      throw new DraasError('unavailable', `OIDC discovery at ${url} failed: ${errorMessage(error)}`);
    }
    const parsed = discoverySchema.safeParse(document);
    if (!parsed.success) throw new DraasError('unavailable', `OIDC discovery at ${url}: the document has no valid issuer and jwks_uri`);
    // OpenID Connect Discovery 1.0, 4.3: the document's issuer must be the one asked for.
    if (parsed.data.issuer !== this.issuer) throw new DraasError('unavailable', `OIDC discovery at ${url} names the issuer ${JSON.stringify(parsed.data.issuer)}, not ${JSON.stringify(this.issuer)}`);
    return createRemoteJWKSet(new URL(parsed.data.jwks_uri), { cooldownDuration: this.cooldownMs, timeoutDuration: this.fetchTimeoutMs });
  }
}

function parseIssuer(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new RangeError(`the OIDC issuer must be a URL, got ${JSON.stringify(issuer)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RangeError(`the OIDC issuer must be an https URL, got ${JSON.stringify(issuer)}`);
  return issuer;
}
