/**
 * @kubernetes/client-node is an optional dependency loaded only by the
 * Kubernetes driver's modules: without it, the driver module fails with a
 * MissingPlatformSdkError naming the package, and the rest of DRaaS
 * (including the Kubernetes options schema) loads without it.
 */
import test from 'ava';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const missingPackages = fileURLToPath(new URL('../fixtures/missing-packages.mjs', import.meta.url));

test('only the Kubernetes driver modules import @kubernetes/client-node', (t) => {
  const offenders: string[] = [];
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(file);
      else if (entry.name.endsWith('.ts')) {
        const relative = path.relative(root, file);
        const imports = /from\s+['"]@kubernetes\/client-node['"]|import\(\s*['"]@kubernetes\/client-node['"]/.test(readFileSync(file, 'utf8'));
        if (imports && !/^src\/platforms\/kubernetes[-.]/.test(relative)) offenders.push(relative);
      }
    }
  };
  visit(path.join(root, 'src'));
  t.deepEqual(offenders, []);
  // The schema module is loaded by the HTTP layer: it must stay free of the SDK.
  t.false(readFileSync(path.join(root, 'src/platforms/kubernetes-options.ts'), 'utf8').includes('@kubernetes/client-node'));
});

test('without @kubernetes/client-node: the driver module fails with MissingPlatformSdkError, the options schema still works', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'draas-kube-sdk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'refused.txt');
  const script = `
    const { loadPlatformModule, MissingPlatformSdkError } = await import(${JSON.stringify(path.join(root, 'src/platforms/platform-sdk.ts'))});
    const { platformOptionSchemas } = await import(${JSON.stringify(path.join(root, 'src/platforms/platform-options.ts'))});
    const schemaWorks = platformOptionSchemas.kubernetes.safeParse({ namespace: 'team-a' }).success;
    try {
      await loadPlatformModule('kubernetes', '@kubernetes/client-node', () => import(${JSON.stringify(path.join(root, 'src/platforms/kubernetes.ts'))}));
      console.log(JSON.stringify({ loaded: true, schemaWorks }));
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, missing: error instanceof MissingPlatformSdkError, message: error.message, schemaWorks }));
    }
  `;
  const child = await execa('node', ['--import=tsx', `--import=${missingPackages}`, '--input-type=module', '-e', script], {
    reject: false,
    cwd: root,
    env: { DRAAS_TEST_MISSING_PACKAGES: '@kubernetes/client-node', DRAAS_TEST_MISSING_LOG: log },
  });
  t.is(child.exitCode, 0, child.stderr);
  const outcome = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  t.like(outcome, { name: 'MissingPlatformSdkError', missing: true, schemaWorks: true });
  t.regex(String(outcome['message']), /npm install @kubernetes\/client-node/);
  t.true(existsSync(log) && readFileSync(log, 'utf8').includes('@kubernetes/client-node'));
});
