/**
 * What the operator allows an instance to ask for, applied once where
 * requests are validated (create, a configuration change) and again before
 * every start (records stored before the policy, or under a looser one, are
 * refused then with the same reasons). Requests cannot change the policy;
 * only the operator can (`--allow`, `--deny-env`, or `policy` in the library's
 * options). Pure: no I/O.
 *
 * See docs/security.md for the threat model and each rule's reason.
 */
import { bindScope } from '../drasi/bind-address.js';
import { ALLOW_SWITCHES, LOWEST_PORT, configPolicyIssues, type AllowSwitch, type PolicyIssue } from '../drasi/config-policy.js';
import { containsEnvRef } from '../drasi/env-ref.js';
import { BadRequestError, DraasError } from '../errors.js';
import type { PlatformType } from '../platforms/driver.js';
import { deniedVariableReason, parseDeniedPattern } from './environment-policy.js';

export { ALLOW_SWITCHES, type AllowSwitch, type PolicyIssue };

export interface OperatorPolicy {
  /**
   * Variables an instance's environment may not set, beyond the built-in list
   * (which always applies): `NAME` or `PREFIX*`.
   */
  deniedEnvironment: readonly string[];
  /** What instances may ask for that is refused by default. */
  allow: ReadonlySet<AllowSwitch>;
}

/** The defaults: the built-in deny list, nothing allowed. */
export const defaultOperatorPolicy: OperatorPolicy = Object.freeze({ deniedEnvironment: Object.freeze([]), allow: new Set<AllowSwitch>() });

/** A complete, checked policy from the operator's partial one; throws a RangeError on an unknown switch or a bad pattern. */
export function operatorPolicy(given: Partial<{ deniedEnvironment: Iterable<string>; allow: Iterable<string> }> = {}): OperatorPolicy {
  const allow = new Set<AllowSwitch>();
  for (const name of given.allow ?? []) {
    if (!(ALLOW_SWITCHES as readonly string[]).includes(name)) throw new RangeError(`unknown allow switch "${name}" (expected ${ALLOW_SWITCHES.join(', ')})`);
    allow.add(name as AllowSwitch);
  }
  const deniedEnvironment = [...new Set([...(given.deniedEnvironment ?? [])].map(parseDeniedPattern))];
  return { deniedEnvironment, allow };
}

/** What the policy looks at in an instance (a create request, or a stored record). */
export interface InstanceFacts {
  platformType: PlatformType;
  platformOptions?: Readonly<Record<string, unknown>> | undefined;
  serverConfiguration?: { host?: string | undefined; port?: number | undefined } | undefined;
  environment?: Readonly<Record<string, string>> | undefined;
  configuration: Readonly<Record<string, unknown>>;
}

/**
 * Whether the platform leaves the server on the host's own network: a local
 * process, or a container on Docker's host network (as the instance asks;
 * a worker's `--docker-network host` default is the operator's own choice).
 */
function sharesHostNetwork(facts: Pick<InstanceFacts, 'platformType' | 'platformOptions'>): boolean {
  return facts.platformType === 'process' || (facts.platformType === 'docker' && facts.platformOptions?.['network'] === 'host');
}

/** Refused variables of an environment, located as `/environment/<NAME>`. */
export function environmentIssues(environment: Readonly<Record<string, string>>, policy: OperatorPolicy): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const name of Object.keys(environment)) {
    const reason = deniedVariableReason(name, policy.deniedEnvironment);
    if (reason !== undefined) issues.push({ path: `/environment/${name}`, message: `${name} may not be set: ${reason}` });
  }
  return issues;
}

/** Refused server settings (where DRaaS binds the server), located as `/serverConfiguration/...`. */
export function serverSettingsIssues(facts: InstanceFacts, policy: OperatorPolicy): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const { host, port } = facts.serverConfiguration ?? {};
  if (host !== undefined && sharesHostNetwork(facts) && !policy.allow.has('all-interfaces')) {
    const message = serverHostProblem(host);
    if (message !== undefined) issues.push({ path: '/serverConfiguration/host', message, allowedBy: 'all-interfaces' });
  }
  if (port !== undefined && port < LOWEST_PORT) {
    issues.push({
      path: '/serverConfiguration/port',
      message: `the server port ${port} is a privileged port (below ${LOWEST_PORT}); ask for one from ${LOWEST_PORT} up, or for none to get one from the operator's range`,
    });
  }
  return issues;
}

/** Why the server may not bind `host` where it shares the host's network; undefined for a loopback address. */
function serverHostProblem(host: string): string | undefined {
  const shown = JSON.stringify(host);
  if (containsEnvRef(host)) return `the server would bind to ${shown}, a reference whose address cannot be checked; write the address out`;
  switch (bindScope(host)) {
    case 'loopback':
      return undefined;
    case 'all-interfaces':
      return `the server would bind ${shown}, every interface of the host, so anyone who can reach the host can reach its API; use a loopback address such as 127.0.0.1`;
    case 'other':
      return `the server would bind ${shown}, an address beyond loopback, so its API is reachable from other hosts; use a loopback address such as 127.0.0.1`;
  }
}

/**
 * Refused platform options, located as `/platformOptions/...`. A Kubernetes
 * pod that names a service account runs with that account's rights — the
 * worker's own one can create Deployments — in an image the caller chose.
 */
export function platformOptionsIssues(facts: Pick<InstanceFacts, 'platformType' | 'platformOptions'>, policy: OperatorPolicy): PolicyIssue[] {
  const account = facts.platformOptions?.['serviceAccountName'];
  if (facts.platformType !== 'kubernetes' || account === undefined || policy.allow.has('service-accounts')) return [];
  return [
    {
      path: '/platformOptions/serviceAccountName',
      message: `the pod would run as the service account ${JSON.stringify(account)} and have its rights in the cluster; instances get no account token by default`,
      allowedBy: 'service-accounts',
    },
  ];
}

/** Refused parts of a Drasi Server config, located by JSON Pointers into the document. */
export function configurationIssues(facts: InstanceFacts, policy: OperatorPolicy): PolicyIssue[] {
  return configPolicyIssues(facts.configuration, {
    allow: policy.allow,
    loopbackOnly: sharesHostNetwork(facts),
    environment: facts.environment ?? {},
  });
}

/** Everything the policy refuses in an instance; configuration issues are located under `/configuration`. */
export function instanceIssues(facts: InstanceFacts, policy: OperatorPolicy): PolicyIssue[] {
  return [
    ...environmentIssues(facts.environment ?? {}, policy),
    ...serverSettingsIssues(facts, policy),
    ...platformOptionsIssues(facts, policy),
    ...configurationIssues(facts, policy).map((issue) => ({ ...issue, path: `/configuration${issue.path}` })),
  ];
}

/**
 * Throws a BadRequestError (400) listing every issue, each with its JSON
 * Pointer and, when an operator switch would accept it, that switch.
 */
export function refuseByPolicy(issues: readonly PolicyIssue[], what: string): void {
  if (issues.length === 0) return;
  const listed = issues.map((issue) => ({
    path: issue.path,
    message: issue.allowedBy === undefined ? issue.message : `${issue.message} (the operator can allow this with --allow ${issue.allowedBy})`,
    ...(issue.allowedBy !== undefined ? { allowedBy: issue.allowedBy } : {}),
  }));
  const shown = listed.slice(0, 3).map((issue) => `${issue.path}: ${issue.message}`);
  const more = listed.length > shown.length ? `; and ${listed.length - shown.length} more` : '';
  throw new BadRequestError(`${what} refused by the operator's policy: ${shown.join('; ')}${more}`, { reason: 'policy', issues: listed });
}

/**
 * For a caller without admin powers: `issues` are what the defaults refuse;
 * those the operator's policy allows (by an `--allow` switch) are refused
 * here with a 403 naming the switch. Issues the policy refuses anyway were
 * answered before (400).
 */
export function refuseBeyondDefaults(issues: readonly PolicyIssue[], policy: OperatorPolicy, what: string): void {
  const adminOnly = issues.filter((issue) => issue.allowedBy !== undefined && policy.allow.has(issue.allowedBy));
  if (adminOnly.length === 0) return;
  const switches = [...new Set(adminOnly.map((issue) => issue.allowedBy!))];
  throw new DraasError(
    'forbidden',
    `${what} uses what only an admin may ask for (the operator allows it with --allow ${switches.join(', ')}): ${adminOnly.map((issue) => issue.path).join(', ')}`,
    { reason: 'admin-only', requiredRole: 'admin', allowedBy: switches, issues: adminOnly.map((issue) => ({ path: issue.path, message: issue.message, allowedBy: issue.allowedBy })) },
  );
}
