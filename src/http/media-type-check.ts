/**
 * A request that changes something (POST, PUT, PATCH, DELETE) must send its
 * body as JSON: `application/json`, or for a PATCH also
 * `application/json-patch+json`. Anything else is 415 before the body is
 * read — above all the three types a web page may send to any origin without
 * a CORS preflight (`text/plain`, `application/x-www-form-urlencoded`,
 * `multipart/form-data`), and a body with no type at all.
 *
 * A request with no body may omit the type (`curl -X POST …/start`). A
 * browser could send such a request cross-origin without a preflight too
 * (`fetch(url, { method: 'POST', mode: 'no-cors' })`), so this check alone
 * does not stop it: the Origin check does, as every browser sends `Origin`
 * on a POST (or PATCH, DELETE). Demanding a type on a body-less request
 * would add nothing against a browser and only burden other clients.
 */
import type { Context, Next } from 'koa';
import { DraasError } from '../errors.js';

const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const json = ['application/json'];
const jsonOrPatch = ['application/json', 'application/json-patch+json'];

/** Whether the request carries a body: chunked, or a Content-Length above 0. */
function hasBody(ctx: Context): boolean {
  return ctx.get('Transfer-Encoding') !== '' || Number(ctx.get('Content-Length') || '0') > 0;
}

export function mediaTypeCheck() {
  return async function checkMediaType(ctx: Context, next: Next): Promise<void> {
    if (!mutating.has(ctx.method)) return next();
    const type = ctx.get('Content-Type').split(';')[0]!.trim().toLowerCase();
    const accepted = ctx.method === 'PATCH' ? jsonOrPatch : json;
    if (type === '' ? hasBody(ctx) : !accepted.includes(type)) {
      const sent = type === '' ? 'a body without a Content-Type' : `Content-Type ${type}`;
      throw new DraasError('unsupported-media-type', `${ctx.method} takes a JSON body (Content-Type ${accepted.join(' or ')}), not ${sent}`, {
        accepted,
      });
    }
    await next();
  };
}
