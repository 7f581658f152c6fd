/**
 * The `auth` option of `createControlPlane` and `startClusterControlPlane`:
 * what to authenticate with, resolved to the objects the HTTP app uses. Each
 * mode supplies its defaults (embedded: files in the data dir; cluster: Redis).
 */
import type { HttpAuthOptions } from '../http/auth.js';
import type { OperationId } from '../http/operations.js';
import type { Closeable } from '../transport/transport.js';
import type { AuditLog } from './audit.js';
import { OidcVerifier, type OidcOptions } from './oidc.js';
import type { TokenStore } from './tokens.js';

export interface AuthSettings {
  /**
   * DRaaS tokens (`draas tokens add`): true (default) for the mode's own store
   * (embedded: `<dataDir>/auth/tokens.json`; cluster: Redis), a store of your
   * own, or false to accept only OIDC tokens.
   */
  tokens?: boolean | TokenStore;
  /** Also accept bearer JWTs of this OpenID Connect issuer. */
  oidc?: OidcOptions;
  /** Where requests to mutations are recorded. Default the mode's (embedded: `<dataDir>/audit/audit.jsonl`; cluster: a capped Redis stream). */
  audit?: AuditLog;
  /** Operations served without a token besides /healthz and /readyz (e.g. `getMetrics`). */
  publicOperations?: OperationId[];
}

export interface AuthDefaults {
  tokens: () => Promise<TokenStore>;
  audit: () => Promise<AuditLog>;
  /** How to make the first token, for the hint when there is none. */
  addTokenCommand: string;
  log: (message: string) => void;
}

export interface ResolvedAuth {
  http: HttpAuthOptions;
  /** What was opened here, to close with the control plane. */
  owned: { name: string; resource: Closeable }[];
}

/** Opens the stores the settings ask for; closes what it opened should a later step fail. */
export async function resolveAuth(settings: AuthSettings, defaults: AuthDefaults): Promise<ResolvedAuth> {
  const owned: ResolvedAuth['owned'] = [];
  try {
    const oidc = settings.oidc !== undefined ? new OidcVerifier(settings.oidc) : undefined;
    let tokens: TokenStore | undefined;
    if (settings.tokens === undefined || settings.tokens === true) {
      tokens = await defaults.tokens();
      owned.push({ name: 'token store', resource: tokens });
    } else if (settings.tokens !== false) {
      tokens = settings.tokens;
    }
    if (tokens === undefined && oidc === undefined) throw new RangeError('auth needs tokens or an OIDC issuer: with tokens: false, give oidc');
    let audit = settings.audit;
    if (audit === undefined) {
      audit = await defaults.audit();
      owned.push({ name: 'audit log', resource: audit });
    }
    if (oidc === undefined && tokens !== undefined && (await tokens.list()).length === 0) {
      defaults.log(`auth: no token exists yet, so every request but /healthz and /readyz is refused (401). Create one with: ${defaults.addTokenCommand}`);
    }
    return {
      http: {
        ...(tokens !== undefined ? { tokens } : {}),
        ...(oidc !== undefined ? { oidc } : {}),
        audit,
        ...(settings.publicOperations !== undefined ? { publicOperations: settings.publicOperations } : {}),
      },
      owned,
    };
  } catch (error) {
    for (const { resource } of owned.reverse()) await resource.close().catch(() => undefined);
    throw error;
  }
}
