/**
 * The file audit log: entries that arrive while a write runs go together in
 * the next write, in the order they arrived, each append resolving once its
 * entry is in the file; a folder removed under it is made again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { FileAuditLog, type AuditEntry } from '../../src/auth/audit.js';

const entry = (index: number): AuditEntry => ({
  time: new Date(0).toISOString(),
  actor: { kind: 'token', name: 'ops' },
  role: 'operator',
  operation: 'startInstance',
  method: 'POST',
  path: `/api/server/instances/i-${index}/start`,
  instanceId: `i-${index}`,
  status: 200,
  durationMs: 1,
});

async function folder(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const lines = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');

test('concurrent appends land once each, in the order they were made; each resolves once its line is in the file', async (t) => {
  const audit = new FileAuditLog(await folder(t));
  const seenAtResolve: number[] = [];
  await Promise.all(
    Array.from({ length: 200 }, (_, index) =>
      audit.append(entry(index)).then(async () => {
        const written = await lines(audit.file);
        seenAtResolve.push(written.findIndex((line) => (JSON.parse(line) as AuditEntry).instanceId === `i-${index}`));
      }),
    ),
  );
  const written = (await lines(audit.file)).map((line) => (JSON.parse(line) as AuditEntry).instanceId);
  t.deepEqual(written, Array.from({ length: 200 }, (_, index) => `i-${index}`));
  t.true(seenAtResolve.every((position) => position >= 0), 'no append resolved before its line was written');
  const page = await audit.read({ limit: 5, after: '195' });
  t.deepEqual(page.entries.map((stored) => stored.id), ['196', '197', '198', '199', '200']);
  await audit.close();
});

test('a folder removed while it runs is made again, and later entries still land', async (t) => {
  const dir = await folder(t);
  const audit = new FileAuditLog(dir);
  await audit.append(entry(1));
  await rm(path.dirname(audit.file), { recursive: true, force: true });
  await audit.append(entry(2));
  t.deepEqual((await lines(audit.file)).map((line) => (JSON.parse(line) as AuditEntry).instanceId), ['i-2']);
  await audit.close();
});
