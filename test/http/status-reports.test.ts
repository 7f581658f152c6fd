/**
 * `POST /api/status/updates` lets a caller mark an instance Failed. Until
 * callers can be told apart (tokens, roles), the API takes such reports only
 * when the operator turned them on, and records who sent each: the report's
 * `source` and the sender's address, in the failure and the history.
 */
import test from 'ava';
import { serve } from '../helpers/memory-api.js';

test('status reports are refused by default with a 403 that says how to enable them', async (t) => {
  const { call, controlPlane } = await serve(t);
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  const report = await call('POST', '/api/status/updates', { instanceId: 'a', status: 'Failed', source: 'probe' });
  t.is(report.status, 403);
  t.regex(report.type, /^application\/problem\+json/);
  t.like(report.body, { type: 'urn:draas:problem:forbidden', reason: 'status-reports-disabled' });
  t.regex(String(report.body?.detail), /--accept-status-reports/);
  t.regex(String(report.body?.detail), /DRAAS_ACCEPT_STATUS_REPORTS=1/);
  t.like((await call('GET', '/api/status/a/status')).body, { status: 'Running', observedState: 'Running' });
});

test('when enabled, a report is accepted and recorded with its source and the sender address', async (t) => {
  const { call, controlPlane } = await serve(t, { http: { acceptStatusReports: true } });
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  const report = await call('POST', '/api/status/updates', { instanceId: 'a', status: 'Failed', source: 'external-probe', message: 'no data' });
  t.is(report.status, 202);
  const status = (await call('GET', '/api/status/a/status')).body as { status: string; failure: Record<string, unknown>; history: { to: string; reason?: string }[] };
  t.is(status.status, 'Failed');
  t.deepEqual(status.failure.reportedBy, { source: 'external-probe', remoteAddress: '127.0.0.1' });
  const failed = status.history.find((entry) => entry.to === 'Failed');
  t.regex(String(failed?.reason), /external-probe/);
  t.regex(String(failed?.reason), /127\.0\.0\.1/);
  t.regex(String(failed?.reason), /no data/);
  const changes = (await call('GET', '/api/status/recent-changes?instanceId=a')).body as unknown as { to: string; reason?: string }[];
  t.regex(String(changes.find((change) => change.to === 'Failed')?.reason), /external-probe from 127\.0\.0\.1/);

  // Without a source it is "api"; the library's own calls have no address.
  await controlPlane.start('a');
  await controlPlane.reportStatus({ instanceId: 'a', status: 'Failed' });
  const direct = (await call('GET', '/api/status/a/status')).body as { failure: Record<string, unknown> };
  t.deepEqual(direct.failure.reportedBy, { source: 'api' });
});
