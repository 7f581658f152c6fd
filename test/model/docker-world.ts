/**
 * The Docker platform for model paths: a real Docker worker on the test
 * engine, whose containers run the controlled launcher (test image plus
 * controlled-server.mjs as the entrypoint, host networking, so the launcher
 * reaches the test's control server on 127.0.0.1). The real workloads are
 * the engine's running containers labelled with the instance, and what their
 * servers serve.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { startPlatformWorker } from '../../src/platform-workers.js';
import { dockerLabels } from '../../src/platforms/docker-container-spec.js';
import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { dockerEngine } from '../helpers/docker-engine.js';
import { testImage } from '../helpers/docker-image.js';
import { takePorts } from '../helpers/port-window.js';
import { controlServer } from './control-server.js';
import type { Gates } from './gates.js';
import { modelWorkerId } from './lifecycle-paths.js';
import { dropServedSource, launcher, servedGeneration } from './process-world.js';
import type { PathWorld, Server } from './run-path.js';

/** A one-file tar archive (ustar), for `putArchive`. */
function tarOf(name: string, content: Buffer, mode = 0o755): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 8, 'ascii');
  header.write('0000000\0', 108, 8, 'ascii');
  header.write('0000000\0', 116, 8, 'ascii');
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
  header.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136, 12, 'ascii');
  header.write('        ', 148, 8, 'ascii');
  header.write('0', 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

let image: Promise<string> | undefined;

/** The test image with the controlled launcher as its entrypoint (made once per engine, by a commit). */
function modelImage(docker: Docker): Promise<string> {
  image ??= (async () => {
    const base = await testImage(docker);
    const source = readFileSync(launcher);
    // The launcher is in the tag: an engine that kept an older model image makes a new one.
    const tag = `${base}-model-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`;
    try {
      await docker.getImage(tag).inspect();
      return tag;
    } catch {
      // not made yet
    }
    const container = await docker.createContainer({ Image: base });
    try {
      await container.putArchive(tarOf('controlled-server.mjs', source), { path: '/opt/drasi-double' });
      const [repo, version] = tag.split(':') as [string, string];
      await container.commit({ repo, tag: version, changes: 'ENTRYPOINT ["/usr/local/bin/node", "/opt/drasi-double/controlled-server.mjs"]' });
    } finally {
      await container.remove({ force: true });
    }
    return tag;
  })();
  return image;
}

async function containersOf(docker: Docker, name: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ filters: JSON.stringify({ label: [`${dockerLabels.instanceId}=${name}`], status: ['running'] }) });
}

export async function dockerWorld(gates: Gates, stopGraceMs: number): Promise<PathWorld> {
  const engine = await dockerEngine();
  const docker = engine.docker;
  const control = await controlServer(gates);
  const transport = new MemoryTransport();
  const settings = {
    platform: 'docker',
    workerId: modelWorkerId,
    dataDir: '.',
    drasiServer: 'unused',
    docker: { host: engine.host, image: await modelImage(docker), network: 'host' },
    ports: takePorts(10),
    stopGraceMs,
    heartbeatMs: 60_000,
  } as const;
  let worker = await startPlatformWorker(transport, settings);
  const names = new Set<string>();
  return {
    transport,
    store: new MemoryInstanceStore(),
    createFields: (name) => {
      names.add(name);
      return { platformType: 'docker', environment: { MODEL_CONTROL_URL: control.url, MODEL_INSTANCE: name, MODEL_DOUBLE: './drasi-server-double.mjs' } };
    },
    servers: async (name) => {
      const servers: Server[] = [];
      for (const container of await containersOf(docker, name)) {
        const generation = await servedGeneration(Number(container.Labels[dockerLabels.port]));
        if (generation !== undefined) servers.push({ workloadId: container.Id, generation });
      }
      return servers;
    },
    workloadCount: async (name) => (await containersOf(docker, name)).length,
    kill: async (_name, workloadId) => {
      await docker.getContainer(workloadId).kill({ signal: 'SIGKILL' });
    },
    drift: async (name) => {
      const containers = await containersOf(docker, name);
      if (containers.length !== 1) throw new Error(`drift: ${containers.length} containers of ${name}`);
      await dropServedSource(Number(containers[0]!.Labels[dockerLabels.port]));
    },
    loseWorker: () => worker.close(),
    returnWorker: async () => {
      worker = await startPlatformWorker(transport, settings);
    },
    close: async () => {
      await worker.close();
      await control.close();
      await transport.close();
      for (const name of names) await docker.getContainer(`draas-${name}`).remove({ force: true }).catch(() => undefined);
    },
  };
}
