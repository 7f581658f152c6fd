/**
 * What a config may ask of the host it runs on, beyond being a valid Drasi
 * Server document (validate-config.ts checks that). A Drasi Server does what
 * its config says with the rights of the user it runs as, and nobody who
 * sends a config is authenticated yet; so a config is refused when it would
 * - fetch and run code: plugin references, registries, auto-install, unless
 *   the operator allows `plugins`; switching signature checks off or choosing
 *   whose signatures count, unless the operator allows `unverified-plugins`;
 * - read or write files outside the instance's working directory (every
 *   file-system path the server or a known plugin takes, see `PATH_FIELDS`);
 * - listen beyond this host where servers are not isolated by their platform
 *   (`loopbackOnly`: the process platform, Docker's host network), unless the
 *   operator allows `all-interfaces`;
 * - listen on a privileged port (below 1024).
 *
 * Pure: no I/O. Values given as `${VAR}` references (or the server's
 * structured `{kind: EnvironmentVariable, name, default}`) are resolved with
 * the instance's environment the way the server resolves them; one that
 * cannot be resolved here cannot be checked, and is refused where a check is
 * needed. Every problem is reported, each located by a JSON Pointer into the
 * document.
 */
import { bindScope } from './bind-address.js';
import { containedPathProblem } from './contained-path.js';
import { containsEnvRef, expandEnvRefs, isEnvRef } from './env-ref.js';
import { toJsonPointer } from './json-pointer.js';
import { isPlainObject } from './plain-object.js';

/** What an operator can allow that a config may not ask for by default. */
export const ALLOW_SWITCHES = ['plugins', 'unverified-plugins', 'all-interfaces', 'service-accounts'] as const;
export type AllowSwitch = (typeof ALLOW_SWITCHES)[number];

export interface ConfigPolicyContext {
  /** What the operator allows. */
  allow: ReadonlySet<AllowSwitch>;
  /** Whether listeners must stay on loopback: true where the platform does not isolate the server's network. */
  loopbackOnly: boolean;
  /** The instance's environment, for references in hosts and ports. */
  environment: Readonly<Record<string, string>>;
}

/** One refused part of a config; `allowedBy` names the operator switch that would accept it, if any. */
export interface PolicyIssue {
  path: string;
  message: string;
  allowedBy?: AllowSwitch;
}

/** The lowest port a config may name: ports below it are privileged (root may bind them). */
export const LOWEST_PORT = 1024;

type Segment = string | number;

/**
 * File-system paths in plugin configs, by section, plugin kind and key (from
 * the plugins' own config structs in drasi-core). A plugin kind missing here
 * has no path DRaaS knows of; plugins DRaaS does not know can only be
 * installed when the operator allows `plugins`.
 */
const PATH_FIELDS: Record<'sources' | 'reactions' | 'bootstrapProviders', Record<string, readonly string[]>> = {
  sources: { sqlite: ['path'], kubernetes: ['kubeconfigPath'] },
  reactions: { file: ['outputPath'], rabbitmq: ['tlsCertPath', 'tlsPfxPath'] },
  bootstrapProviders: { scriptfile: ['filePaths'], sqlite: ['path'] },
};

/**
 * Plugins that listen: where their `host` and `port` sit (`at`: a nested
 * object) and the host they bind when none is given. The HTTP source needs a
 * host (the server refuses one without).
 */
const LISTENERS: Record<'sources' | 'reactions', Record<string, { at?: string; defaultHost?: string }>> = {
  sources: { http: {}, grpc: { defaultHost: '0.0.0.0' }, sqlite: { at: 'restApi', defaultHost: '0.0.0.0' } },
  reactions: { sse: { defaultHost: '0.0.0.0' }, dashboard: { defaultHost: '0.0.0.0' }, mcp: { defaultHost: '0.0.0.0' } },
};

/** Every part of `config` the policy refuses; empty when it is acceptable. `config` is a validated document. */
export function configPolicyIssues(config: Readonly<Record<string, unknown>>, context: ConfigPolicyContext): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const refuse = (at: Segment[], message: string, allowedBy?: AllowSwitch) => {
    if (allowedBy !== undefined && context.allow.has(allowedBy)) return;
    issues.push({ path: toJsonPointer(at), message, ...(allowedBy !== undefined ? { allowedBy } : {}) });
  };
  checkPlugins(config, refuse);
  if (config['port'] !== undefined) checkPort(['port'], config['port'], 'the server port', context, refuse);
  checkPipeline(config, [], context, refuse);
  const instances = config['instances'];
  if (Array.isArray(instances)) instances.forEach((instance, index) => isPlainObject(instance) && checkPipeline(instance, ['instances', index], context, refuse));
  const providers = config['bootstrapProviders'];
  for (const [key, provider] of entriesOf(providers)) checkPathsOf('bootstrapProviders', provider, ['bootstrapProviders', key], refuse);
  return issues;
}

type Refuse = (at: Segment[], message: string, allowedBy?: AllowSwitch) => void;

function checkPlugins(config: Readonly<Record<string, unknown>>, refuse: Refuse): void {
  const plugins = config['plugins'];
  if (Array.isArray(plugins) && plugins.length > 0) {
    refuse(['plugins'], 'plugin references are refused: the server would download and run their code', 'plugins');
  }
  const autoInstall = config['autoInstallPlugins'];
  if (autoInstall === true || isEnvRef(autoInstall)) {
    refuse(['autoInstallPlugins'], 'installing plugins is refused: the server would download and run their code', 'plugins');
  }
  if (config['pluginRegistry'] !== undefined) {
    refuse(['pluginRegistry'], 'a plugin registry is refused: it chooses the source of plugin code', 'plugins');
  }
  const verify = config['verifyPlugins'];
  if (verify === false || isEnvRef(verify)) {
    refuse(['verifyPlugins'], 'turning plugin signature checks off is refused: the server would load plugins nobody vouched for', 'unverified-plugins');
  }
  const identities = config['trustedIdentities'];
  if (Array.isArray(identities) && identities.length > 0) {
    refuse(['trustedIdentities'], 'choosing whose plugin signatures count is refused: any signer could then vouch for a plugin', 'unverified-plugins');
  }
}

/** The keys a pipeline has at the top level and in each entry of `instances`. */
function checkPipeline(pipeline: Readonly<Record<string, unknown>>, at: Segment[], context: ConfigPolicyContext, refuse: Refuse): void {
  const stateStore = pipeline['stateStore'];
  if (isPlainObject(stateStore) && stateStore['path'] !== undefined) checkPath([...at, 'stateStore', 'path'], stateStore['path'], refuse);
  for (const [index, source] of entriesOf(pipeline['sources'])) {
    const where = [...at, 'sources', index];
    checkPathsOf('sources', source, where, refuse);
    checkListener('sources', source, where, context, refuse);
    if (isPlainObject(source)) checkPathsOf('bootstrapProviders', source['bootstrapProvider'], [...where, 'bootstrapProvider'], refuse);
  }
  for (const [index, reaction] of entriesOf(pipeline['reactions'])) {
    const where = [...at, 'reactions', index];
    checkPathsOf('reactions', reaction, where, refuse);
    checkListener('reactions', reaction, where, context, refuse);
  }
  for (const [index, query] of entriesOf(pipeline['queries'])) {
    const backend = isPlainObject(query) ? query['storageBackend'] : undefined;
    // Earlier drasi-lib versions took a RocksDB directory here.
    if (isPlainObject(backend) && backend['path'] !== undefined) checkPath([...at, 'queries', index, 'storageBackend', 'path'], backend['path'], refuse);
  }
}

function checkPathsOf(section: keyof typeof PATH_FIELDS, component: unknown, at: Segment[], refuse: Refuse): void {
  if (!isPlainObject(component) || typeof component['kind'] !== 'string') return;
  for (const key of PATH_FIELDS[section][component['kind']] ?? []) {
    const value = component[key];
    if (Array.isArray(value)) value.forEach((item, index) => checkPath([...at, key, index], item, refuse));
    else if (value !== undefined && value !== null) checkPath([...at, key], value, refuse);
  }
}

function checkPath(at: Segment[], value: unknown, refuse: Refuse): void {
  if (typeof value !== 'string') {
    refuse(at, 'a file path must be written out as a relative path (a string), not a reference the server resolves');
    return;
  }
  const problem = containedPathProblem(value);
  if (problem !== undefined) refuse(at, `the file path ${JSON.stringify(value)} ${problem}`);
}

function checkListener(section: keyof typeof LISTENERS, component: unknown, at: Segment[], context: ConfigPolicyContext, refuse: Refuse): void {
  if (!isPlainObject(component) || typeof component['kind'] !== 'string' || !Object.hasOwn(LISTENERS[section], component['kind'])) return;
  const listener = LISTENERS[section][component['kind']]!;
  const settings = listener.at === undefined ? component : component[listener.at];
  if (!isPlainObject(settings)) return;
  const where = listener.at === undefined ? at : [...at, listener.at];
  const what = `the ${component['kind']} ${section === 'sources' ? 'source' : 'reaction'}'s listener`;
  if (context.loopbackOnly) {
    const given = settings['host'];
    if (given !== undefined) checkHost([...where, 'host'], given, what, false, context, refuse);
    else if (listener.defaultHost !== undefined) checkHost(where, listener.defaultHost, what, true, context, refuse);
  }
  if (settings['port'] !== undefined) checkPort([...where, 'port'], settings['port'], `the port of ${what}`, context, refuse);
}

function checkHost(at: Segment[], value: unknown, what: string, isDefault: boolean, context: ConfigPolicyContext, refuse: Refuse): void {
  const resolved = resolve(value, context.environment);
  if (resolved.kind === 'invalid') return; // the server refuses it
  if (resolved.kind === 'unknown') {
    refuse(at, `${what} binds to ${resolved.why}, so where it listens cannot be checked; write the address out`, 'all-interfaces');
    return;
  }
  const scope = bindScope(resolved.text);
  if (scope === 'loopback') return;
  const shown = JSON.stringify(resolved.text);
  const how = isDefault ? `binds ${shown} when no host is given` : `binds ${shown}`;
  const reach =
    scope === 'all-interfaces'
      ? 'every interface of the host, so anyone who can reach the host can reach it'
      : 'an address beyond loopback, so it is reachable from other hosts';
  refuse(at, `${what} ${how}: ${reach}; use a loopback address such as 127.0.0.1`, 'all-interfaces');
}

function checkPort(at: Segment[], value: unknown, what: string, context: ConfigPolicyContext, refuse: Refuse): void {
  const resolved = resolve(value, context.environment);
  // A reference nobody sets: the server fails to start on it (its environment is the instance's, plus PATH, HOME, LANG, LC_ALL, TZ).
  if (resolved.kind !== 'literal') return;
  const port = Number(resolved.text.trim());
  if (/^[0-9]+$/.test(resolved.text.trim()) && port >= 1 && port < LOWEST_PORT) {
    refuse(at, `${what} ${port} is a privileged port (below ${LOWEST_PORT}); use one from ${LOWEST_PORT} up`);
  }
}

type Resolved = { kind: 'literal'; text: string } | { kind: 'unknown'; why: string } | { kind: 'invalid' };

/** A host or port value as the server will read it, given the instance's environment. */
function resolve(value: unknown, environment: Readonly<Record<string, string>>): Resolved {
  if (typeof value === 'number') return { kind: 'literal', text: String(value) };
  if (typeof value === 'string') {
    if (!containsEnvRef(value)) return { kind: 'literal', text: value };
    const text = expandEnvRefs(value, environment);
    return text === undefined ? { kind: 'unknown', why: `${JSON.stringify(value)}, which the instance's environment does not set` } : { kind: 'literal', text };
  }
  if (isPlainObject(value) && value['kind'] === 'EnvironmentVariable' && typeof value['name'] === 'string') {
    const name = value['name'];
    if (Object.hasOwn(environment, name)) return { kind: 'literal', text: environment[name] ?? '' };
    const fallback = value['default'];
    if (typeof fallback === 'string' || typeof fallback === 'number') return { kind: 'literal', text: String(fallback) };
    return { kind: 'unknown', why: `the variable ${name}, which the instance's environment does not set` };
  }
  if (isPlainObject(value) && value['kind'] === 'Secret') return { kind: 'unknown', why: 'a secret' };
  return { kind: 'invalid' };
}

/** The entries of a list (index → item) or a mapping (key → value); none for anything else. */
function entriesOf(value: unknown): Array<[Segment, unknown]> {
  if (Array.isArray(value)) return value.map((item, index): [Segment, unknown] => [index, item]);
  if (isPlainObject(value)) return Object.entries(value);
  return [];
}
