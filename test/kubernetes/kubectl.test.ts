/**
 * kubectl against the Kubernetes API double over TLS, with the generated
 * kubeconfig: if kubectl's discovery, validation, apply, scale, logs,
 * pod proxy, delete and watches work, the double speaks the real protocol.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { inert, toolAvailable } from '../helpers/engines.js';
import { startKubeApiDouble, type KubeApiDoubleHandle } from '../helpers/kube-api.js';
import { eventually, field, kubeRequest, names } from '../helpers/kube-http.js';

const available = toolAvailable('kubectl', 'kubectl against the kube-api double');
const suite = available ? test : inert;

let kube: KubeApiDoubleHandle;
let scratch: string;

suite.before(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'kubectl-double-'));
  kube = await startKubeApiDouble({ namespace: 'kubectl', timeScale: 0.1 });
});

suite.after.always(async () => {
  await kube?.close();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

function environment(): NodeJS.ProcessEnv {
  // A kubectl cache directory of our own: discovery results must come from this double.
  return { PATH: process.env.PATH, HOME: scratch, KUBECONFIG: kube.kubectlKubeconfigPath, KUBECACHEDIR: path.join(scratch, 'cache') };
}

function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('kubectl', ['--request-timeout=30s', ...args], { env: environment(), timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<string> {
  const result = await kubectl(...args);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/**
 * `kubectl create namespace` (like every typed `kubectl create <kind>`)
 * sends a protobuf body, which the double refuses with 415; a manifest
 * goes as JSON.
 */
async function namespace(name: string): Promise<string> {
  await ok('create', '-f', writeManifest(`namespace-${name}.yaml`, `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`));
  return name;
}

function manifest(ns: string, replicas: number, marker: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  namespace: ${ns}
data:
  server.yaml: |
    id: ${ns}
    host: 127.0.0.1
    port: 8080
    logLevel: info
    persistConfig: false
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: drasi
  namespace: ${ns}
  labels: {app: drasi}
spec:
  replicas: ${replicas}
  strategy: {type: Recreate}
  selector: {matchLabels: {app: drasi}}
  template:
    metadata: {labels: {app: drasi}}
    spec:
      volumes: [{name: config, configMap: {name: config}}]
      containers:
      - name: drasi
        image: drasi-server:0.2.0
        args: [--config, /etc/drasi/server.yaml, --port, "8080"]
        env: [{name: MARKER, value: "${marker}"}]
        ports: [{name: http, containerPort: 8080}]
        volumeMounts: [{name: config, mountPath: /etc/drasi}]
        readinessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 2}
`;
}

function writeManifest(name: string, text: string): string {
  const file = path.join(scratch, name);
  writeFileSync(file, text);
  return file;
}

suite('kubectl version reports the double as a v1.33 server', async (t) => {
  const output = JSON.parse(await ok('version', '-o', 'json')) as unknown;
  t.regex(String(field(output, 'serverVersion.gitVersion')), /^v1\.33\./);
});

suite('kubectl create -f, wait, get (table and JSON), logs and delete', async (t) => {
  const ns = await namespace('created');
  const file = writeManifest('created.yaml', manifest(ns, 1, 'one'));
  const created = await ok('create', '-f', file);
  t.regex(created, /configmap\/config created/);
  t.regex(created, /deployment.apps\/drasi created/);
  await ok('-n', ns, 'wait', '--for=condition=Available', 'deployment/drasi', '--timeout=60s');
  t.regex(await ok('-n', ns, 'rollout', 'status', 'deployment/drasi', '--timeout=60s'), /deployment "drasi" successfully rolled out/);
  // describe reads the pod's events through field selectors on involvedObject.
  const described = await ok('-n', ns, 'describe', 'pods', '-l', 'app=drasi');
  t.regex(described, /Status:\s+Running/);
  t.regex(described, /Normal\s+Started\s+\S+\s+kubelet\s+Started container drasi/);

  const table = await ok('-n', ns, 'get', 'deploy,pods');
  t.regex(table, /deployment.apps\/drasi\s+1\/1\s+1\s+1\s/);
  t.regex(table, /pod\/drasi-[a-z0-9]+-[a-z0-9]{5}\s+1\/1\s+Running\s+0\s/);
  const json = JSON.parse(await ok('-n', ns, 'get', 'pods', '-l', 'app=drasi', '-o', 'json')) as unknown;
  t.is(names(json).length, 1);
  t.is(field(json, 'items.0.status.phase'), 'Running');

  const logs = await ok('-n', ns, 'logs', 'deployment/drasi', '--tail=50');
  t.regex(logs, /"event":"started"/);

  // logs -f keeps streaming: read until a heartbeat line arrives, then stop it.
  const follower = spawn('kubectl', ['-n', ns, 'logs', '-f', 'deployment/drasi', '--tail=1'], { env: environment(), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => follower.kill('SIGKILL'));
  let followed = '';
  follower.stdout.setEncoding('utf8').on('data', (chunk: string) => (followed += chunk));
  await eventually(() => (followed.split('\n').filter((line) => line !== '').length >= 2 ? true : undefined), 'kubectl logs -f streams new lines', 30_000);
  t.regex(followed, /heartbeat/);
  follower.kill('SIGINT');

  // pods/proxy, as kubectl addresses it (by port number and by port name): the server's own API through the API server.
  const pod = names(json)[0] ?? '';
  for (const target of [`${pod}:8080`, `${pod}:http`, `http:${pod}:8080`]) {
    const proxied = JSON.parse(await ok('get', '--raw', `/api/v1/namespaces/${ns}/pods/${target}/proxy/api/v1/sources`)) as unknown;
    t.is(field(proxied, 'success'), true, `${target}: ${JSON.stringify(proxied)}`);
  }
  const refused = await kubectl('get', '--raw', `/api/v1/namespaces/${ns}/pods/${pod}:9999/proxy/health`);
  t.not(refused.code, 0, 'a port the pod does not serve');
  t.regex(refused.stderr, /ServiceUnavailable|error trying to reach service/);
  const absent = await kubectl('get', '--raw', `/api/v1/namespaces/${ns}/pods/nobody:8080/proxy/health`);
  t.regex(absent.stderr, /NotFound|not found/);

  const deleted = await ok('-n', ns, 'delete', 'deployment', 'drasi');
  t.regex(deleted, /deployment.apps "drasi" deleted/);
  await eventually(async () => (names((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods`)).body).length === 0 ? true : undefined), 'pods gone');
  const missing = await kubectl('-n', ns, 'get', 'deployment', 'drasi');
  t.not(missing.code, 0);
  t.regex(missing.stderr, /Error from server \(NotFound\): deployments.apps "drasi" not found/);
});

suite('kubectl apply -f creates, patches with a strategic merge patch, and reports unchanged', async (t) => {
  const ns = await namespace('applied');
  const first = await ok('apply', '-f', writeManifest('apply-1.yaml', manifest(ns, 1, 'one')));
  t.regex(first, /deployment.apps\/drasi created/);
  const created = JSON.parse(await ok('-n', ns, 'get', 'deployment', 'drasi', '-o', 'json')) as unknown;
  const annotations = field(created, 'metadata.annotations');
  const lastApplied = typeof annotations === 'object' && annotations !== null ? Object.entries(annotations).find(([key]) => key === 'kubectl.kubernetes.io/last-applied-configuration')?.[1] : undefined;
  t.like(JSON.parse(String(lastApplied)), { kind: 'Deployment', spec: { replicas: 1 } });
  const second = await ok('apply', '-f', writeManifest('apply-2.yaml', manifest(ns, 2, 'two')));
  t.regex(second, /deployment.apps\/drasi configured/);
  t.regex(second, /configmap\/config unchanged/);
  const patched = JSON.parse(await ok('-n', ns, 'get', 'deployment', 'drasi', '-o', 'json')) as unknown;
  t.is(field(patched, 'spec.replicas'), 2);
  t.is(field(patched, 'metadata.generation'), 2);
  t.is(field(patched, 'spec.template.spec.containers.0.env.0.value'), 'two');
  // Fields kubectl did not manage survive the patch (it merged, it did not replace).
  t.is(field(patched, 'spec.template.spec.containers.0.readinessProbe.httpGet.path'), '/health');
  const third = await ok('apply', '-f', writeManifest('apply-2.yaml', manifest(ns, 2, 'two')));
  t.regex(third, /deployment.apps\/drasi unchanged/);

  const scaled = await ok('-n', ns, 'scale', 'deployment/drasi', '--replicas=0');
  t.regex(scaled, /deployment.apps\/drasi scaled/);
  const after = (await kubeRequest(kube, 'GET', `/apis/apps/v1/namespaces/${ns}/deployments/drasi`)).body;
  t.is(field(after, 'spec.replicas'), 0);
});

suite('kubectl get -w sees a change made through the API', async (t) => {
  const ns = await namespace('watched');
  const watcher = spawn('kubectl', ['-n', ns, 'get', 'configmaps', '-w', '--output-watch-events'], { env: environment(), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => watcher.kill('SIGKILL'));
  let output = '';
  watcher.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  watcher.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // Whether the object shows up in kubectl's initial list or in its watch, it is printed as ADDED;
  // the deletion afterwards can only reach kubectl through the watch (from the list's resourceVersion).
  await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { metadata: { name: 'appeared' }, data: { a: 'b' } } });
  await eventually(() => (/ADDED\s+appeared/.test(output) ? true : undefined), 'kubectl saw the ADDED event', 30_000);
  await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/appeared`);
  await eventually(() => (/DELETED\s+appeared/.test(output) ? true : undefined), 'kubectl saw the DELETED event', 30_000);
  t.pass();
});

suite('kubectl apply --server-side creates and updates with server-side apply', async (t) => {
  const ns = await namespace('server-side');
  const configMap = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${ns}\ndata:\n  value: "${value}"\n`;
  t.regex(await ok('apply', '--server-side', '-f', writeManifest('ssa-1.yaml', configMap('one'))), /configmap\/settings serverside-applied/);
  t.regex(await ok('apply', '--server-side', '-f', writeManifest('ssa-2.yaml', configMap('two'))), /configmap\/settings serverside-applied/);
  const stored = (await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps/settings`)).body;
  t.is(field(stored, 'data.value'), 'two');
  t.is(field(stored, 'metadata.managedFields.0.manager'), 'kubectl');
  // Another manager's conflicting apply fails as kubectl reports it, until forced.
  const conflicting = await kubectl('apply', '--server-side', '--field-manager=other', '-f', writeManifest('ssa-3.yaml', configMap('three')));
  t.not(conflicting.code, 0);
  t.regex(conflicting.stderr, /conflict/i);
  await ok('apply', '--server-side', '--field-manager=other', '--force-conflicts', '-f', writeManifest('ssa-3.yaml', configMap('three')));
  t.is(field((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps/settings`)).body, 'data.value'), 'three');
});
