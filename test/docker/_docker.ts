/** Shared by the Docker suites: an embedded control plane with a Docker worker on the test engine, and container probes. */
import type { ExecutionContext } from 'ava';
import type Docker from 'dockerode';
import type { EmbeddedControlPlaneOptions } from '../../src/embedded.js';
import { embedded } from '../helpers/embedded.js';
import { dockerEngine } from '../helpers/docker-engine.js';
import { testImage } from '../helpers/docker-image.js';
import { takePorts } from '../helpers/port-window.js';

/** Host ports for one control plane: 20 of this test file's own window (port-window.ts). */
export function dockerPortRange(): { min: number; max: number } {
  return takePorts(20);
}

/** A unique instance name (a DNS-1123 label) for this test process. */
export function instanceName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** Removes the instances' containers after the test, whatever it left. */
export function removeContainersAfter(t: ExecutionContext, docker: Docker, ...names: string[]): void {
  t.teardown(async () => {
    for (const name of names) await docker.getContainer(`draas-${name}`).remove({ force: true }).catch(() => undefined);
  });
}

/** An embedded control plane whose Docker worker uses the test engine, the test image and host networking. */
export async function dockerControlPlane(t: ExecutionContext, options: EmbeddedControlPlaneOptions & { dataDir?: string } = {}) {
  const engine = await dockerEngine();
  const image = await testImage(engine.docker);
  const { draas, dataDir } = await embedded(t, {
    platforms: ['docker'],
    docker: { host: engine.host, image, network: 'host' },
    ports: dockerPortRange(),
    ...options,
  });
  return { draas, dataDir, docker: engine.docker, engine, image };
}

/** The container's inspect data, or undefined when there is no such container. */
export async function inspectContainer(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(name).inspect();
  } catch {
    return undefined;
  }
}

/** A single file's content from a container (`GET /containers/{id}/archive`, a tar of one file). */
export async function fileInContainer(docker: Docker, name: string, path: string): Promise<string> {
  const stream = await docker.getContainer(name).getArchive({ path });
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  const tar = Buffer.concat(chunks);
  const size = parseInt(tar.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim(), 8);
  return tar.subarray(512, 512 + size).toString('utf8');
}
