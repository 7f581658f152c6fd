/**
 * The Docker platform's pure parts, without an engine: container create
 * options, labels, the config archive, log frames, event parsing, the
 * connection string and the per-platform option schemas.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { tarArchive } from '../../src/platforms/docker-archive.js';
import { DockerHostError, dockerConnectionOptions } from '../../src/platforms/docker-connection.js';
import { containerCreateOptions, containerServerConfig, labelFacts, resolveDockerOptions } from '../../src/platforms/docker-container-spec.js';
import { DockerEventStream, JsonLineSplitter, parseDockerEvent, type DockerContainerEvent } from '../../src/platforms/docker-events.js';
import { describePullProgress } from '../../src/platforms/docker-image.js';
import { demultiplex, linesAfter, logLines, normalizeTimestamp, sinceSeconds, timestampedLines } from '../../src/platforms/docker-logs.js';
import type { WorkloadSpec } from '../../src/platforms/driver.js';
import { platformOptionSchemas } from '../../src/platforms/platform-options.js';

const spec: WorkloadSpec = {
  instanceId: 'analytics',
  generation: 3,
  config: { id: 'analytics', host: '127.0.0.1', logLevel: 'info', persistConfig: false },
  env: { DB_PASSWORD: 'secret' },
  startTimeoutMs: 10_000,
};

test('bridge containers: named draas-<id>, labelled, the server binary gets --config and --port, port published on 127.0.0.1 only', (t) => {
  const options = containerCreateOptions(spec, { image: 'example/drasi:1', network: 'bridge', memoryMb: 512, cpus: 1.5 }, 18081);
  t.like(options, {
    name: 'draas-analytics',
    Image: 'example/drasi:1',
    Cmd: ['--config', '/app/config/server.yaml', '--port', '18081'],
    WorkingDir: '/app',
    Env: ['DB_PASSWORD=secret'],
    StopSignal: 'SIGINT',
    Labels: { 'managed-by': 'draas', 'io.draas.instance-id': 'analytics', 'io.draas.generation': '3', 'io.draas.port': '18081' },
    ExposedPorts: { '18081/tcp': {} },
  });
  t.deepEqual(options.HostConfig, {
    RestartPolicy: { Name: 'no' },
    NetworkMode: 'bridge',
    PortBindings: { '18081/tcp': [{ HostIp: '127.0.0.1', HostPort: '18081' }] },
    Memory: 512 * 1024 * 1024,
    MemorySwap: 512 * 1024 * 1024,
    NanoCpus: 1_500_000_000,
  });
  t.false('Entrypoint' in options, "the image's entrypoint is the server binary");
});

test('host networking publishes nothing and sets no limits unless asked', (t) => {
  const options = containerCreateOptions(spec, { image: 'x', network: 'host' }, 18082);
  t.deepEqual(options.HostConfig, { RestartPolicy: { Name: 'no' }, NetworkMode: 'host' });
  t.false('ExposedPorts' in options);
});

test('the config inside a bridge container listens on every interface; on the host network where the instance asked', (t) => {
  t.like(containerServerConfig(spec, 'bridge', 18081), { host: '0.0.0.0', port: 18081, id: 'analytics' });
  t.like(containerServerConfig(spec, 'host', 18081), { host: '127.0.0.1', port: 18081 });
});

test('options: the instance wins over the worker defaults', (t) => {
  t.deepEqual(resolveDockerOptions({}, { image: 'default:1', network: 'bridge' }), { image: 'default:1', network: 'bridge' });
  t.deepEqual(resolveDockerOptions({ image: 'mine:2', network: 'host', cpus: 2 }, { image: 'default:1', network: 'bridge' }), {
    image: 'mine:2',
    network: 'host',
    cpus: 2,
  });
});

test('labels read back; containers that are not ours or unreadable are not', (t) => {
  const labels = containerCreateOptions(spec, { image: 'x', network: 'host' }, 18083).Labels;
  t.deepEqual(labelFacts(labels), { instanceId: 'analytics', generation: 3, port: 18083 });
  t.is(labelFacts({ ...labels, 'managed-by': 'someone-else' }), undefined);
  t.is(labelFacts({ ...labels, 'io.draas.port': 'x' }), undefined);
  t.is(labelFacts(undefined), undefined);
});

test('the config archive is a tar that tar reads: a directory and the file with its content', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'draas-tar-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const content = 'id: analytics\nport: 18081\n'.repeat(40);
  writeFileSync(path.join(dir, 'a.tar'), tarArchive([{ type: 'directory', path: 'app/config' }, { type: 'file', path: 'app/config/server.yaml', content }]));
  t.deepEqual(execFileSync('tar', ['-tf', 'a.tar'], { cwd: dir, encoding: 'utf8' }).trim().split('\n'), ['app/config/', 'app/config/server.yaml']);
  execFileSync('tar', ['-xf', 'a.tar'], { cwd: dir });
  t.is(readFileSync(path.join(dir, 'app/config/server.yaml'), 'utf8'), content);
  t.throws(() => tarArchive([{ type: 'file', path: 'x'.repeat(101), content: '' }]), { instanceOf: RangeError });
});

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

test('log frames: stdout and stderr interleaved become lines; tail keeps the newest; a TTY log is raw', (t) => {
  const log = Buffer.concat([frame(1, 'one\ntw'), frame(2, 'o\nError: three\n'), frame(1, 'four\n')]);
  t.deepEqual(logLines(log, 10), ['one', 'two', 'Error: three', 'four']);
  t.deepEqual(logLines(log, 2), ['Error: three', 'four']);
  t.deepEqual(logLines(log, 0), []);
  t.deepEqual(demultiplex(Buffer.from('raw tty output\n')).map(String), ['raw tty output\n']);
});

const attributes = { 'managed-by': 'draas', 'io.draas.instance-id': 'analytics' };

test('engine events: die with its exit code, oom, health; other containers and actions are ignored', (t) => {
  const base = { Type: 'container', Actor: { ID: 'c1', Attributes: { ...attributes, exitCode: '137' } }, timeNano: 1_700_000_000_000_000_000 };
  t.like(parseDockerEvent({ ...base, Action: 'die' }), { action: 'die', containerId: 'c1', instanceId: 'analytics', exitCode: 137 });
  t.like(parseDockerEvent({ ...base, Action: 'oom' }), { action: 'oom' });
  t.like(parseDockerEvent({ ...base, Action: 'health_status: unhealthy' }), { action: 'health', healthy: false });
  t.is(parseDockerEvent({ ...base, Action: 'exec_start: sh' }), undefined);
  t.is(parseDockerEvent({ ...base, Action: 'die', Actor: { ID: 'c2', Attributes: { 'managed-by': 'other' } } }), undefined);
  t.is(parseDockerEvent({ ...base, Type: 'image', Action: 'pull' }), undefined);
  t.is(parseDockerEvent('garbage'), undefined);
});

test('JSON lines split across chunks are joined; junk lines are skipped', (t) => {
  const splitter = new JsonLineSplitter();
  t.deepEqual(splitter.push('{"a":1}\n{"b"'), [{ a: 1 }]);
  t.deepEqual(splitter.push(':2}\nnot json\n\n'), [{ b: 2 }]);
});

test('the event stream reconnects after it ends, resumes from the last event time, and drops events it already delivered', async (t) => {
  const opened: (number | undefined)[] = [];
  const streams: PassThrough[] = [];
  const delivered: DockerContainerEvent[] = [];
  let resumed = 0;
  const stream = new DockerEventStream({
    open: async (since) => {
      opened.push(since);
      const next = new PassThrough();
      streams.push(next);
      return next;
    },
    onEvent: (event) => delivered.push(event),
    onResumed: () => resumed++,
    backoffMs: () => 0,
  });
  t.teardown(() => stream.close());
  await stream.start();
  const die = { Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: { ...attributes, exitCode: '1' } }, timeNano: 5_500_000_000 };
  streams[0]!.write(`${JSON.stringify(die)}\n`);
  streams[0]!.end();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(opened, [undefined, 5], 'resumed from the second of the last event');
  t.is(resumed, 1);
  // The Engine replays from that second: the same event again, then a new one.
  streams[1]!.write(`${JSON.stringify(die)}\n${JSON.stringify({ ...die, Actor: { ID: 'c2', Attributes: attributes }, timeNano: 6_000_000_000 })}\n`);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.deepEqual(delivered.map((event) => event.containerId), ['c1', 'c2']);
});

test('pull progress: one line per layer status change, errors said as such', (t) => {
  const seen = new Map<string, string>();
  t.is(describePullProgress({ status: 'Pulling from drasi-project/drasi-server', id: '0.2.0' }, seen), '0.2.0: Pulling from drasi-project/drasi-server');
  t.is(describePullProgress({ status: 'Downloading', id: 'abc', progressDetail: { current: 1 } }, seen), 'abc: Downloading');
  t.is(describePullProgress({ status: 'Downloading', id: 'abc', progressDetail: { current: 2 } }, seen), undefined);
  t.is(describePullProgress({ error: 'manifest unknown' }, seen), 'error: manifest unknown');
});

test('DOCKER_HOST: unix sockets, tcp (2376 means TLS), the default socket, and clear errors', (t) => {
  t.deepEqual(dockerConnectionOptions({ dockerHost: 'unix:///tmp/d.sock' }), { socketPath: '/tmp/d.sock' });
  t.deepEqual(dockerConnectionOptions({ dockerHost: 'tcp://10.0.0.5:2375' }), { host: '10.0.0.5', port: 2375, protocol: 'http' });
  t.deepEqual(dockerConnectionOptions({ dockerHost: 'tcp://docker.example:2376' }), { host: 'docker.example', port: 2376, protocol: 'https' });
  t.deepEqual(dockerConnectionOptions({}), { socketPath: '/var/run/docker.sock' });
  t.deepEqual(dockerConnectionOptions({ socketPath: '/run/user/1000/docker.sock' }), { socketPath: '/run/user/1000/docker.sock' });
  t.throws(() => dockerConnectionOptions({ dockerHost: 'unix://relative.sock' }), { instanceOf: DockerHostError });
  t.throws(() => dockerConnectionOptions({ dockerHost: 'ssh://me@host' }), { instanceOf: DockerHostError, message: /unsupported scheme ssh:/ });
  t.throws(() => dockerConnectionOptions({ dockerHost: 'nonsense' }), { instanceOf: DockerHostError });
});

test('platform option schemas: docker takes image, memoryMb, cpus, network; process takes none', (t) => {
  t.true(platformOptionSchemas.docker.safeParse({ image: 'ghcr.io/drasi-project/drasi-server:0.2.0', memoryMb: 256, cpus: 0.5, network: 'host' }).success);
  t.false(platformOptionSchemas.docker.safeParse({ image: 'Not An Image' }).success);
  t.false(platformOptionSchemas.docker.safeParse({ memoryMb: 1.5 }).success);
  t.false(platformOptionSchemas.docker.safeParse({ cpus: 0 }).success);
  t.false(platformOptionSchemas.docker.safeParse({ network: 'overlay' }).success);
  t.false(platformOptionSchemas.docker.safeParse({ privileged: true }).success);
  t.true(platformOptionSchemas.process.safeParse({}).success);
  t.false(platformOptionSchemas.process.safeParse({ image: 'x' }).success);
});

test('timestamped log lines: parsed, normalised to nine fraction digits; a cursor read skips exactly what was read, identical lines included', (t) => {
  const frame = (text: string) => {
    const payload = Buffer.from(text);
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };
  const log = Buffer.concat([
    frame('2024-05-01T12:00:00.100000000Z one\n'),
    frame('2024-05-01T12:00:00.2Z same\n'),
    frame('2024-05-01T12:00:00.200000000Z same\n'),
    frame('2024-05-01T12:00:01.000000000Z two\n'),
  ]);
  const entries = timestampedLines(log);
  t.deepEqual(entries.map((entry) => entry.line), ['one', 'same', 'same', 'two']);
  t.is(entries[1]!.timestamp, '2024-05-01T12:00:00.200000000Z');
  t.is(normalizeTimestamp('nonsense'), undefined);
  t.is(sinceSeconds('2024-05-01T12:00:00.999999999Z'), Date.UTC(2024, 4, 1, 12) / 1000);

  // Read up to the first "same": the second one, stamped alike, still comes.
  t.deepEqual(linesAfter(entries, { timestamp: '2024-05-01T12:00:00.200000000Z', count: 1 }), {
    lines: ['same', 'two'],
    timestamp: '2024-05-01T12:00:01.000000000Z',
    count: 1,
  });
  t.deepEqual(linesAfter(entries, { timestamp: null, count: 0 }).lines, ['one', 'same', 'same', 'two']);
  t.deepEqual(linesAfter(entries.slice(0, 3), { timestamp: '2024-05-01T12:00:00.200000000Z', count: 2 }), {
    lines: [],
    timestamp: '2024-05-01T12:00:00.200000000Z',
    count: 2,
  });
});
