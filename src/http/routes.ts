/**
 * The REST API (paths compatible with the original). Thin: parse, call the
 * control plane, map the reply to a status code.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import Router, { type RouterMiddleware } from '@koa/router';
import type { Context } from 'koa';
import type { ControlPlane } from '../actors/control-plane.js';
import { parseRequest, patchConfigOptionsSchema, statusReportSchema } from '../api/instance-requests.js';
import { configEtag, ifMatchGenerations } from '../api/config-etag.js';
import { afterChange, afterInstance, changeCursor, instanceCursor } from '../api/page-cursor.js';
import { openEventStream } from './event-stream.js';
import { auditQuerySchema, eventsQuerySchema, listInstancesQuerySchema, logsQuerySchema, machineQuerySchema, recentChangesQuerySchema } from './query-schemas.js';
import { requestSignal } from './request-signal.js';
import { DraasError, errorMessage, NotFoundError } from '../errors.js';
import { instanceMachineText, machineIds, machineMediaTypes, type MachineFormat } from '../machines/machine-document.js';
import { DEFAULT_MAX_EVENT_CLIENTS, DEFAULT_MAX_LOG_FOLLOWS } from './http-defaults.js';
import { StreamSlots } from './stream-slots.js';
import { platformViews } from '../api/platform-view.js';
import { operations, type OperationId } from './operations.js';
import { toLogger, type LogOption } from '../observability/logger.js';
import type { RequestTelemetryState } from './request-telemetry.js';
import { idempotency, type IdempotencyOptions } from './idempotency.js';
import { openApiDocument } from './openapi.js';
import { packageVersion } from '../package-version.js';
import { callerRole } from './auth.js';
import { DEFAULT_AUDIT_LIMIT, type AuditLog } from '../auth/audit.js';

/** A followed log as the text of a streamed response; a failure after the 200 becomes a last line. */
async function* textLines(lines: AsyncIterable<string>, signal: AbortSignal): AsyncGenerator<string> {
  try {
    for await (const line of lines) yield `${line}\n`;
  } catch (error) {
    if (!signal.aborted) yield `… log stream failed: ${errorMessage(error)}\n`;
  }
}

/** Each rendering's ETag, computed with its text on first use (the machine is fixed while the process runs). */
const machineTags = new Map<MachineFormat, string>();
function machineTag(format: MachineFormat): string {
  let tag = machineTags.get(format);
  if (tag === undefined) {
    tag = `"${createHash('sha256').update(instanceMachineText(format)).digest('base64url').slice(0, 27)}"`;
    machineTags.set(format, tag);
  }
  return tag;
}

/** The OpenAPI document's text and ETag, made on first use. */
let openApi: { text: string; tag: string } | undefined;
function openApiContract(): { text: string; tag: string } {
  if (openApi === undefined) {
    const text = JSON.stringify(openApiDocument(packageVersion()));
    openApi = { text, tag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"` };
  }
  return openApi;
}

/**
 * The position a client resumes from: its `Last-Event-ID` header, else the
 * `lastEventId` parameter. A header that is not one of our ids (another
 * server's, an older format) is -1: the client is told to reload (a reset).
 */
function resumePosition(header: string | undefined, query: number | undefined): number | undefined {
  const value = header?.trim();
  if (value === undefined || value === '') return query;
  return /^\d{1,15}$/.test(value) ? Number(value) : -1;
}

/** A page's size when a cursor is given without a limit. */
const DEFAULT_PAGE_LIMIT = 100;

/** Where the next page is: `Next-Cursor`, and `Link: <…>; rel="next"` (RFC 8288) with the same query. */
function nextPage(ctx: Context, cursor: string, query: Record<string, string>): void {
  const search = new URLSearchParams({ ...query, cursor });
  ctx.set('Next-Cursor', cursor);
  ctx.set('Link', `<${ctx.path}?${search.toString()}>; rel="next"`);
}

export interface RouteOptions {
  /** SSE keep-alive comment (or heartbeat event) interval (default 15 s). */
  eventKeepAliveMs?: number;
  /** Bytes an SSE client may fall behind before it is disconnected (default 1 MiB). */
  eventMaxBufferedBytes?: number;
  /** Open `GET /api/events` streams at most; more are 503 (default 1,000). */
  maxEventClients?: number;
  /**
   * Followed logs (`GET …/logs?follow=true`) open at most; more are 503
   * (default 100). A ceiling of their own: each one polls its instance's
   * worker, where an SSE client only shares the change feed.
   */
  maxLogFollows?: number;
  /**
   * Whether `POST /api/status/updates` is served. Default false (403): until
   * callers can be told apart, any caller could mark any instance Failed.
   */
  acceptStatusReports?: boolean;
  /** Idempotency-Key on POST operations: where answers are kept and for how long (see idempotency.ts). */
  idempotency?: IdempotencyOptions;
  /** Where accepted status reports are logged (warn: someone outside marked an instance). */
  log?: LogOption;
  /** Told of each kind of long-lived response's slots, to count the open ones (metrics). */
  streamSlots?: (kind: 'events' | 'log-follows', slots: StreamSlots) => void;
  /** The audit log `GET /api/audit` reads (with auth). */
  audit?: AuditLog;
}



export function createRoutes(controlPlane: ControlPlane, options: RouteOptions = {}): Router {
  const router = new Router();
  const idempotent = idempotency(options.idempotency);
  // Each route under its operation id, at the method and path the catalog gives it; a POST takes an Idempotency-Key.
  const route = (id: OperationId, handler: RouterMiddleware): void => {
    const { method, path } = operations[id];
    router.register(path, [method], method === 'POST' ? [idempotent(id), handler] : handler, { name: id });
  };
  const eventStreams = new StreamSlots(options.maxEventClients ?? DEFAULT_MAX_EVENT_CLIENTS, 'SSE clients', '--max-event-clients / DRAAS_MAX_EVENT_CLIENTS');
  const logFollows = new StreamSlots(options.maxLogFollows ?? DEFAULT_MAX_LOG_FOLLOWS, 'followed logs', '--max-log-follows / DRAAS_MAX_LOG_FOLLOWS');
  options.streamSlots?.('events', eventStreams);
  options.streamSlots?.('log-follows', logFollows);
  // Every recorded status change as Server-Sent Events (optionally of one instance), resumable by event id; heartbeats on request.
  route('streamEvents', async (ctx) => {
    const query = parseRequest(eventsQuerySchema, ctx.query, 'events query');
    eventStreams.hold(ctx);
    const after = resumePosition(ctx.get('Last-Event-ID') || undefined, query.lastEventId);
    const signal = requestSignal(ctx);
    const closed = new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    ctx.body = await openEventStream((listener, options) => controlPlane.subscribe(listener, options), closed, {
      ...(query.instanceId !== undefined ? { instanceId: query.instanceId } : {}),
      ...(query.type !== undefined ? { types: query.type } : {}),
      ...(after !== undefined ? { after } : {}),
      ...(options.eventKeepAliveMs !== undefined ? { keepAliveMs: options.eventKeepAliveMs } : {}),
      ...(options.eventMaxBufferedBytes !== undefined ? { maxBufferedBytes: options.eventMaxBufferedBytes } : {}),
    });
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.req.socket.setNoDelay(true);
    ctx.res.flushHeaders();
  });

  // The lifecycle machine as data (states, transitions, a layout to draw), Mermaid or Graphviz DOT.
  route('listMachines', (ctx) => {
    ctx.body = { machines: machineIds.map((id) => ({ id, href: `/api/machines/${id}` })) };
  });

  route('getMachine', (ctx) => {
    const id = ctx.params.id!;
    if (!(machineIds as readonly string[]).includes(id)) {
      throw new NotFoundError(`no machine "${id}"; the machines are: ${machineIds.join(', ')}`, { machines: [...machineIds] });
    }
    const format = parseRequest(machineQuerySchema, ctx.query, 'machine query').format ?? 'json';
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('ETag', machineTag(format));
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = machineMediaTypes[format];
    ctx.body = instanceMachineText(format);
  });

  route('createInstance', async (ctx) => {
    // An operator may not use what only the operator's --allow permits; an admin (or any caller without auth) may.
    const view = await controlPlane.create(ctx.request.body ?? {}, { restricted: callerRole(ctx) === 'operator' });
    ctx.status = 201;
    ctx.set('Location', `/api/server/instances/${view.id}`);
    ctx.body = view;
  });

  // The body stays the array of the original API; a page's continuation travels in headers.
  route('listInstances', async (ctx) => {
    const query = parseRequest(listInstancesQuerySchema, ctx.query, 'instances query');
    if (query.limit === undefined && query.cursor === undefined) {
      ctx.body = await controlPlane.list();
      return;
    }
    const after = query.cursor !== undefined ? afterInstance(query.cursor) : undefined;
    const page = await controlPlane.listPage({ limit: query.limit ?? DEFAULT_PAGE_LIMIT, ...(after !== undefined ? { after } : {}) });
    if (page.next !== null) nextPage(ctx, instanceCursor(page.next), { limit: String(query.limit ?? DEFAULT_PAGE_LIMIT) });
    ctx.body = page.items;
  });

  route('getInstance', async (ctx) => {
    ctx.body = await controlPlane.get(ctx.params.id!);
  });

  route('deleteInstance', async (ctx) => {
    await controlPlane.delete(ctx.params.id!, { signal: requestSignal(ctx) });
    ctx.status = 204;
  });

  route('startInstance', async (ctx) => {
    ctx.body = await controlPlane.start(ctx.params.id!, { signal: requestSignal(ctx) });
  });

  route('stopInstance', async (ctx) => {
    ctx.body = await controlPlane.stop(ctx.params.id!, { signal: requestSignal(ctx) });
  });

  route('restartInstance', async (ctx) => {
    ctx.body = await controlPlane.restart(ctx.params.id!, { signal: requestSignal(ctx) });
  });

  // Compares the instance with what runs now (drift is repaired as by the periodic check) and answers the comparison.
  route('reconcileInstance', async (ctx) => {
    ctx.body = await controlPlane.reconcile(ctx.params.id!);
  });

  route('getInstanceLogs', async (ctx) => {
    const { follow, ...query } = parseRequest(logsQuerySchema, ctx.query, 'logs query');
    const signal = requestSignal(ctx);
    if (follow !== 'true') {
      const lines = await controlPlane.logs(ctx.params.id!, { ...query, signal });
      ctx.body = { instanceId: ctx.params.id, lines };
      return;
    }
    logFollows.hold(ctx);
    // Problems (bad input, an unknown instance) must be answered before the 200 of the stream.
    const lines = controlPlane.followLogs(ctx.params.id!, { ...query, signal });
    await controlPlane.get(ctx.params.id!);
    ctx.body = Readable.from(textLines(lines, signal));
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('X-Content-Type-Options', 'nosniff');
    // The client sees the 200 now, not with the first line (which may be a while).
    ctx.res.flushHeaders();
  });

  // An ETag of the generation: a client sends it back in If-Match to change what it read, and nothing newer.
  route('getConfiguration', async (ctx) => {
    const config = await controlPlane.getConfig(ctx.params.id!);
    ctx.status = 200;
    ctx.set('ETag', configEtag(config.generation));
    ctx.set('Cache-Control', 'no-cache');
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = config;
  });

  route('patchConfiguration', async (ctx) => {
    // ?updateStrategy=auto|restart|manual: how a Running instance takes this change (the instance's own strategy otherwise).
    const query = parseRequest(patchConfigOptionsSchema, ctx.query, 'configuration change options');
    // If-Match is checked by the control plane in the same serialized step as the change (a check here would race).
    const ifMatch = ctx.get('If-Match');
    const allowed = ifMatch === '' ? 'any' : ifMatchGenerations(ifMatch);
    const config = await controlPlane.patchConfig(
      ctx.params.id!,
      ctx.request.body,
      { ...query, ...(allowed !== 'any' ? { ifGeneration: allowed } : {}) },
      { restricted: callerRole(ctx) === 'operator' },
    );
    ctx.set('ETag', configEtag(config.generation));
    ctx.body = config;
  });

  route('reportStatus', async (ctx) => {
    if (options.acceptStatusReports !== true) {
      throw new DraasError(
        'forbidden',
        'status reports are not accepted: they let a caller mark any instance Failed. Start draas with --accept-status-reports ' +
          '(DRAAS_ACCEPT_STATUS_REPORTS=1), or pass acceptStatusReports to createHttpApp, to accept them',
        { reason: 'status-reports-disabled' },
      );
    }
    // The connection's peer, not X-Forwarded-For (which a client may write): behind a proxy, the proxy's address.
    // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d; recorded as a.b.c.d.
    const remoteAddress = ctx.req.socket.remoteAddress?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
    const report = parseRequest(statusReportSchema, ctx.request.body ?? {}, 'status report');
    const view = await controlPlane.reportStatus(report, remoteAddress !== undefined ? { remoteAddress } : undefined);
    toLogger(options.log).warn(
      `status report on "${report.instanceId}" accepted: ${report.status} from ${JSON.stringify(report.source ?? 'api')} at ${remoteAddress ?? 'an unknown address'}`,
      { instanceId: report.instanceId, requestId: (ctx.state as Partial<RequestTelemetryState>).requestId },
    );
    ctx.status = 202;
    ctx.body = view;
  });

  route('listRecentChanges', async (ctx) => {
    const query = parseRequest(recentChangesQuerySchema, ctx.query, 'recent-changes query');
    const after = query.cursor !== undefined ? afterChange(query.cursor) : query.after;
    const changes = await controlPlane.recentChanges({
      ...(query.limit !== undefined ? { limit: query.limit } : {}),
      ...(after !== undefined ? { afterSequence: after } : {}),
      ...(query.instanceId !== undefined ? { instanceId: query.instanceId } : {}),
    });
    // What to ask for next: the changes after the newest one here (or, with none, after the same position).
    const last = changes.at(-1)?.sequence ?? after;
    if (last !== undefined) {
      nextPage(ctx, changeCursor(last), {
        ...(query.limit !== undefined ? { limit: String(query.limit) } : {}),
        ...(query.instanceId !== undefined ? { instanceId: query.instanceId } : {}),
      });
    }
    ctx.body = changes;
  });

  route('getStatus', async (ctx) => {
    ctx.body = await controlPlane.status(ctx.params.id!);
  });

  route('getDrift', async (ctx) => {
    const comparison = await controlPlane.drift(ctx.params.id!);
    ctx.body = comparison ?? { instanceId: ctx.params.id, outcome: 'not-checked', differences: [], repair: [], reason: 'not compared with what runs yet (see --reconcile-interval)' };
  });

  route('listReplicas', async (ctx) => {
    ctx.body = await controlPlane.replicas();
  });

  // Each platform: whether a worker takes commands (and why not), its workers, and its circuit breakers (see docs/operations.md).
  route('listPlatforms', async (ctx) => {
    const platforms = platformViews(await controlPlane.platforms(), controlPlane.circuitStates());
    ctx.body = { platforms };
  });

  // The API contract, generated from the catalog and the schemas; fixed while the process runs.
  route('listAuditEntries', async (ctx) => {
    const query = parseRequest(auditQuerySchema, ctx.query, 'audit query');
    if (options.audit === undefined) throw new NotFoundError('no audit log is kept: start draas with --auth (DRAAS_AUTH=1), or pass auth.audit to createHttpApp');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await options.audit.read({ limit: query.limit ?? DEFAULT_AUDIT_LIMIT, ...(query.after !== undefined ? { after: query.after } : {}) });
  });

  route('getOpenApi', (ctx) => {
    const contract = openApiContract();
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('ETag', contract.tag);
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = contract.text;
  });

  route('health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  route('readiness', async (ctx) => {
    const ready = await controlPlane.ready();
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not ready' };
  });

  // A Prometheus scrape of this control plane (its own series and the process's).
  route('getMetrics', async (ctx) => {
    ctx.body = await controlPlane.metrics.text();
    ctx.set('Content-Type', controlPlane.metrics.contentType);
    ctx.set('Cache-Control', 'no-store');
  });

  return router;
}
