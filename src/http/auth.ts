/**
 * Authentication, authorization and the audit log of the REST API, as one
 * middleware that runs after the Host and Origin guards and before a body
 * is read (a 401 never depends on a body).
 *
 * The operation is found with the router (the catalog's `access` says who may
 * call it); paths no route matches go on to be 404/405 as without auth, and
 * so do the console's pages and assets (they carry no data). A request needs
 * `Authorization: Bearer <token>`: a DRaaS token (`draas_…`, from the token
 * store) or, with OIDC configured, a JWT of the issuer. Without one, or with
 * a bad one: 401 with `WWW-Authenticate` (RFC 6750); with a role too low: 403
 * naming the role needed.
 *
 * Every request to a mutation is audited — allowed or refused, with its
 * final status — without tokens or bodies.
 */
import type { Context, Next } from 'koa';
import type Router from '@koa/router';
import type { AuditActor, AuditEntry, AuditLog } from '../auth/audit.js';
import { looksLikeJwt, type OidcVerifier } from '../auth/oidc.js';
import type { TokenStore } from '../auth/tokens.js';
import { DraasError, errorMessage } from '../errors.js';
import { allows, operations, type OperationId, type Role } from './operations.js';
import { sendProblem } from './problem.js';

export interface HttpAuthOptions {
  /** DRaaS tokens (`draas tokens add`). */
  tokens?: Pick<TokenStore, 'verify'>;
  /** Bearer JWTs of an OpenID Connect issuer. */
  oidc?: OidcVerifier;
  /** Where requests to mutations are recorded. */
  audit?: AuditLog;
  /** Operations served without a token besides the public ones (e.g. `getMetrics` for a scraper). */
  publicOperations?: readonly OperationId[];
}

/** The authenticated caller of a request, in `ctx.state.caller`. */
export interface Caller {
  actor: AuditActor;
  role: Role;
}

const REALM = 'draas';
const INSTANCE_ID = /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/;

/** The operation a request is for, by the router's named layers; undefined when no route matches. */
export function operationOf(router: Router, path: string, method: string): { id: OperationId; params: Record<string, string> } | undefined {
  const matched = router.match(path, method);
  for (const layer of matched.pathAndMethod) {
    const name = layer.name;
    if (name !== undefined && name !== null && Object.hasOwn(operations, name)) {
      return { id: name as OperationId, params: layer.params(path, layer.captures(path)) };
    }
  }
  return undefined;
}

/** `WWW-Authenticate` of a 401/403 (RFC 6750, 3): quotes and backslashes cannot occur in our descriptions. */
function challenge(error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope', description?: string): string {
  let value = `Bearer realm="${REALM}"`;
  if (error !== undefined) value += `, error="${error}"`;
  if (description !== undefined) value += `, error_description="${description.replace(/["\\]/g, "'")}"`;
  return value;
}

/** The bearer token of a request: undefined without an Authorization header, '' when it is not Bearer. */
function bearerToken(ctx: Context): string | undefined {
  const header = ctx.get('Authorization');
  if (header === '') return undefined;
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  return match ? match[1]! : '';
}

type Authentication = { ok: true; caller: Caller } | { ok: true; noRole: { actor: AuditActor; claim: string } } | { ok: false; status: 401; description: string };

async function authenticate(token: string | undefined, options: HttpAuthOptions): Promise<Authentication> {
  if (token === undefined) return { ok: false, status: 401, description: 'this request needs an Authorization: Bearer token' };
  if (token === '') return { ok: false, status: 401, description: 'the Authorization header must be "Bearer <token>"' };
  if (options.oidc !== undefined && looksLikeJwt(token)) {
    const identity = await options.oidc.verify(token);
    if (identity === undefined) return { ok: false, status: 401, description: 'the token is not valid (signature, issuer, audience or expiry)' };
    const actor: AuditActor = { kind: 'oidc', subject: identity.subject, issuer: identity.issuer };
    return identity.role !== undefined ? { ok: true, caller: { actor, role: identity.role } } : { ok: true, noRole: { actor, claim: options.oidc.roleClaim } };
  }
  const identity = options.tokens !== undefined ? await options.tokens.verify(token) : undefined;
  if (identity === undefined) return { ok: false, status: 401, description: 'the token is unknown or revoked' };
  return { ok: true, caller: { actor: { kind: 'token', name: identity.name }, role: identity.role } };
}

/** The status an error will be answered with (by the problem middleware, further out). */
function statusOf(error: unknown): { status: number; problem?: string } {
  if (error instanceof DraasError) return { status: error.status, problem: error.code };
  if (typeof error === 'object' && error !== null && 'status' in error) {
    const status = Number(error.status);
    if (Number.isInteger(status) && status >= 400 && status <= 599) return { status };
  }
  return { status: 500, problem: 'internal' };
}

/** The instance a mutation is about: its path's id, or the body's `name` (create) / `instanceId` (status report). */
function instanceIdOf(params: Record<string, string>, body: unknown): string | undefined {
  const fromBody = typeof body === 'object' && body !== null ? ((body as Record<string, unknown>).name ?? (body as Record<string, unknown>).instanceId) : undefined;
  const id = params.id ?? fromBody;
  return typeof id === 'string' && INSTANCE_ID.test(id) ? id : undefined;
}

/** A client's request id, if it is a short printable one (it is written to the log as is). */
function requestIdOf(ctx: Context): string | undefined {
  const value = ctx.get('X-Request-Id');
  return /^[\x21-\x7e]{1,128}$/.test(value) ? value : undefined;
}

/** Throws on a `publicOperations` entry that is not a catalogued read: a mutation without a caller would have every power. */
export function authMiddleware(router: Router, options: HttpAuthOptions, log: (message: string) => void) {
  const open = new Set<OperationId>(options.publicOperations ?? []);
  for (const id of open) {
    if (!Object.hasOwn(operations, id)) throw new Error(`publicOperations: no operation "${id}"`);
    if (operations[id].mutation) throw new Error(`publicOperations: ${id} changes something; only reads may be opened`);
  }
  return async function auth(ctx: Context, next: Next): Promise<void> {
    const operation = operationOf(router, ctx.path, ctx.method);
    if (operation === undefined) return next();
    const { access, mutation } = operations[operation.id];
    const began = performance.now();
    let caller: Caller | undefined;
    let actor: AuditActor = { kind: 'anonymous' };
    const audit = async (status: number, problem?: string) => {
      if (!mutation || options.audit === undefined) return;
      const instanceId = instanceIdOf(operation.params, ctx.request.body);
      const requestId = requestIdOf(ctx);
      const remoteAddress = ctx.req.socket.remoteAddress?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
      const entry: AuditEntry = {
        time: new Date(Date.now() - (performance.now() - began)).toISOString(),
        actor,
        ...(caller !== undefined ? { role: caller.role } : {}),
        operation: operation.id,
        method: ctx.method,
        path: ctx.path,
        ...(instanceId !== undefined ? { instanceId } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
        ...(remoteAddress !== undefined ? { remoteAddress } : {}),
        status,
        ...(problem !== undefined ? { problem } : {}),
        durationMs: Math.round(performance.now() - began),
      };
      try {
        await options.audit.append(entry);
      } catch (error) {
        log(`audit: could not record ${entry.method} ${entry.path} (${entry.status}) by ${JSON.stringify(entry.actor)}: ${errorMessage(error)}`);
      }
    };
    try {
      if (access !== 'public' && !open.has(operation.id)) {
        const result = await authenticate(bearerToken(ctx), options);
        if (!result.ok) {
          const given = bearerToken(ctx);
          // RFC 6750, 3.1: no error code when no credentials were sent; invalid_request when they are not a bearer token.
          ctx.set('WWW-Authenticate', challenge(given === undefined ? undefined : given === '' ? 'invalid_request' : 'invalid_token', result.description));
          sendProblem(ctx, 'unauthorized', 401, result.description);
          await audit(401, 'unauthorized');
          return;
        }
        if ('noRole' in result) {
          actor = result.noRole.actor;
          const detail = `the token names no role (viewer, operator or admin) in its "${result.noRole.claim}" claim; ${operation.id} needs ${access}`;
          ctx.set('WWW-Authenticate', challenge('insufficient_scope', detail));
          sendProblem(ctx, 'forbidden', 403, detail, { reason: 'no-role', requiredRole: access });
          await audit(403, 'forbidden');
          return;
        }
        caller = result.caller;
        actor = caller.actor;
        if (!allows(caller.role, access)) {
          const detail = `${operation.id} needs the role ${access}; this token has ${caller.role}`;
          ctx.set('WWW-Authenticate', challenge('insufficient_scope', detail));
          sendProblem(ctx, 'forbidden', 403, detail, { reason: 'role', requiredRole: access, role: caller.role });
          await audit(403, 'forbidden');
          return;
        }
        ctx.state.caller = caller;
        // Who the caller is, as one string, for what keys by caller (e.g. the scope of idempotency keys).
        ctx.state.principal = principalOf(caller.actor);
      }
    } catch (error) {
      // The token store or the OIDC issuer did not answer.
      const { status, problem } = statusOf(error);
      await audit(status, problem);
      throw error;
    }
    try {
      await next();
    } catch (error) {
      const { status, problem } = statusOf(error);
      await audit(status, problem);
      throw error;
    }
    await audit(ctx.status, ctx.status >= 400 && typeof ctx.body === 'object' && ctx.body !== null ? problemCode(ctx.body) : undefined);
  };
}

/** `token:<name>` or `oidc:<issuer>#<subject>`. */
export function principalOf(actor: AuditActor): string {
  switch (actor.kind) {
    case 'token':
      return `token:${actor.name}`;
    case 'oidc':
      return `oidc:${actor.issuer}#${actor.subject}`;
    case 'anonymous':
      return 'anonymous';
  }
}

/** The code of a problem+json body a handler wrote itself. */
function problemCode(body: object): string | undefined {
  const type = (body as { type?: unknown }).type;
  return typeof type === 'string' && type.startsWith('urn:draas:problem:') ? type.slice('urn:draas:problem:'.length) : undefined;
}

/** The role of the request's caller; undefined when auth is off (every caller has every power). */
export function callerRole(ctx: Context): Role | undefined {
  const caller = (ctx.state as { caller?: Caller }).caller;
  return caller?.role;
}
