/**
 * The Drasi Server test image, built without a registry: a root filesystem
 * holding this machine's node binary, the shared libraries it needs (from
 * `ldd`), the `yaml` package and the Drasi Server double, `docker import`ed
 * with the real image's shape: the entrypoint is the server binary
 * (`/usr/local/bin/drasi-server`), DRaaS supplies `--config … --port …`, and
 * the working directory is `/app`.
 *
 * Tagged with a hash of what goes in, so a daemon that has it already skips
 * the build.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';

const doublePath = fileURLToPath(new URL('../fixtures/drasi-server-double.mjs', import.meta.url));
const yamlDir = path.dirname(createRequire(import.meta.url).resolve('yaml/package.json'));

/** The absolute paths of the shared libraries `binary` loads (and the loader). */
function sharedLibraries(binary: string): string[] {
  const output = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const paths = new Set<string>();
  for (const line of output.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match) paths.add(match[1]!);
  }
  return [...paths];
}

function inputsHash(libraries: string[]): string {
  const hash = createHash('sha256');
  hash.update(process.version).update(process.execPath).update(String(statSync(process.execPath).size));
  hash.update(readFileSync(doublePath));
  hash.update(readFileSync(path.join(yamlDir, 'package.json')));
  for (const library of libraries) hash.update(library);
  return hash.digest('hex').slice(0, 16);
}

/** Lays out the root filesystem in a temp dir and returns it. */
function rootFilesystem(libraries: string[]): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'draas-rootfs-'));
  const put = (source: string, target = source) => {
    const destination = path.join(root, target);
    mkdirSync(path.dirname(destination), { recursive: true });
    cpSync(source, destination, { dereference: true, recursive: true });
  };
  put(process.execPath, '/usr/local/bin/node');
  for (const library of libraries) put(library);
  put(doublePath, '/opt/drasi-double/drasi-server-double.mjs');
  put(yamlDir, '/opt/drasi-double/node_modules/yaml');
  // The "server binary": a CommonJS node script that loads the (ESM) double with the arguments DRaaS passes.
  const entry = path.join(root, 'usr/local/bin/drasi-server');
  writeFileSync(entry, "#!/usr/local/bin/node\nimport('/opt/drasi-double/drasi-server-double.mjs');\n");
  chmodSync(entry, 0o755);
  for (const dir of ['app', 'tmp']) mkdirSync(path.join(root, dir), { recursive: true, mode: 0o1777 });
  return root;
}

async function hasImage(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

const building = new Map<string, Promise<string>>();

/** The tag of the test image on `docker`'s daemon, built (imported) when absent. */
export function testImage(docker: Docker): Promise<string> {
  const libraries = sharedLibraries(process.execPath);
  const tag = `draas-test/drasi-server-double:${inputsHash(libraries)}`;
  let pending = building.get(tag);
  if (!pending) {
    pending = (async () => {
      if (await hasImage(docker, tag)) return tag;
      const root = rootFilesystem(libraries);
      const tarball = path.join(root, '..', `${path.basename(root)}.tar`);
      try {
        execFileSync('tar', ['-C', root, '-cf', tarball, '.']);
        const [repo, version] = tag.split(':') as [string, string];
        const stream = await docker.importImage(tarball, {
          repo,
          tag: version,
          changes: ['ENTRYPOINT ["/usr/local/bin/drasi-server"]', 'WORKDIR /app'],
        });
        await new Promise<void>((resolve, reject) => {
          docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve()));
        });
        if (!(await hasImage(docker, tag))) throw new Error(`docker import did not produce ${tag}`);
        return tag;
      } finally {
        rmSync(root, { recursive: true, force: true });
        rmSync(tarball, { force: true });
      }
    })();
    building.set(tag, pending);
  }
  return pending;
}
