import type { ConfigIssue } from '../errors.js';
import { containsEnvRef } from './env-ref.js';
import { toJsonPointer } from './json-pointer.js';
import { isPlainObject } from './plain-object.js';

/**
 * Cross-reference checks that a schema cannot express, done per pipeline (the
 * top level, and each entry of `instances`, which the server runs as separate
 * DrasiLib instances with their own id spaces):
 * - ids are unique among sources, among queries and among reactions;
 * - each query subscribes only to sources of its own pipeline;
 * - each reaction follows only queries of its own pipeline;
 * - a source's `identityProvider` names a declared identity provider;
 * - instance ids are unique (the server refuses duplicates).
 * The server would refuse these at start (or start components that can never
 * receive data); DRaaS reports them before anything runs.
 *
 * Works on the raw document so it can run alongside the schema and report
 * everything at once; values of the wrong type are left to the schema.
 * Values containing `${VAR}` are not compared: they are only known after
 * expansion by the server.
 */
export function findReferenceIssues(document: unknown): ConfigIssue[] {
  if (!isPlainObject(document)) return [];
  const issues: ConfigIssue[] = [];
  const sharedIdentityProviders = collectIds(document['identityProviders'], ['identityProviders'], 'identity provider', issues);

  const instances = Array.isArray(document['instances']) ? document['instances'] : [];
  checkPipeline(document, [], 'the top-level pipeline', sharedIdentityProviders, issues);

  if (instances.length > 0) {
    for (const key of ['sources', 'queries', 'reactions']) {
      const list = document[key];
      if (Array.isArray(list) && list.length > 0) {
        issues.push({
          path: toJsonPointer([key]),
          message: `top-level \`${key}\` are ignored by Drasi Server when \`instances\` is set: move them into an instance`,
        });
      }
    }
  }

  const seenInstances = new Map<string, number>();
  instances.forEach((instance, index) => {
    if (!isPlainObject(instance)) return;
    const id = instance['id'];
    const label = typeof id === 'string' ? `instance \`${id}\`` : `instance #${index}`;
    if (typeof id === 'string') {
      const first = seenInstances.get(id);
      if (first === undefined) seenInstances.set(id, index);
      else issues.push({ path: toJsonPointer(['instances', index, 'id']), message: `duplicate instance id \`${id}\` (already used by /instances/${first})` });
    }
    const own = collectIds(instance['identityProviders'], ['instances', index, 'identityProviders'], 'identity provider', issues);
    checkPipeline(instance, ['instances', index], label, new Set([...sharedIdentityProviders, ...own]), issues);
  });
  return issues;
}

function checkPipeline(
  pipeline: Record<string, unknown>,
  at: ReadonlyArray<string | number>,
  label: string,
  identityProviders: ReadonlySet<string>,
  issues: ConfigIssue[],
): void {
  const sourceIds = collectIds(pipeline['sources'], [...at, 'sources'], 'source', issues);
  const queryIds = collectIds(pipeline['queries'], [...at, 'queries'], 'query', issues);
  collectIds(pipeline['reactions'], [...at, 'reactions'], 'reaction', issues);

  eachObject(pipeline['sources'], (source, index) => {
    const ref = source['identityProvider'];
    if (typeof ref === 'string' && !containsEnvRef(ref) && !identityProviders.has(ref)) {
      issues.push({
        path: toJsonPointer([...at, 'sources', index, 'identityProvider']),
        message: `source \`${String(source['id'])}\` uses identity provider \`${ref}\`, which is not declared in \`identityProviders\``,
      });
    }
  });

  eachObject(pipeline['queries'], (query, queryIndex) => {
    eachObject(query['sources'], (subscription, subIndex) => {
      const sourceId = subscription['sourceId'];
      if (typeof sourceId === 'string' && !containsEnvRef(sourceId) && !sourceIds.has(sourceId)) {
        issues.push({
          path: toJsonPointer([...at, 'queries', queryIndex, 'sources', subIndex, 'sourceId']),
          message: `query \`${String(query['id'])}\` reads from source \`${sourceId}\`, which is not defined in ${label}`,
        });
      }
    });
  });

  eachObject(pipeline['reactions'], (reaction, reactionIndex) => {
    const queries = reaction['queries'];
    if (!Array.isArray(queries)) return;
    queries.forEach((queryId: unknown, index) => {
      if (typeof queryId === 'string' && !containsEnvRef(queryId) && !queryIds.has(queryId)) {
        issues.push({
          path: toJsonPointer([...at, 'reactions', reactionIndex, 'queries', index]),
          message: `reaction \`${String(reaction['id'])}\` follows query \`${queryId}\`, which is not defined in ${label}`,
        });
      }
    });
  });
}

/** The string ids of a component list, reporting duplicates. */
function collectIds(list: unknown, at: ReadonlyArray<string | number>, kind: string, issues: ConfigIssue[]): Set<string> {
  const firstIndex = new Map<string, number>();
  eachObject(list, (item, index) => {
    const id = item['id'];
    if (typeof id !== 'string') return;
    const first = firstIndex.get(id);
    if (first === undefined) firstIndex.set(id, index);
    else issues.push({ path: toJsonPointer([...at, index, 'id']), message: `duplicate ${kind} id \`${id}\` (already used by ${toJsonPointer([...at, first])})` });
  });
  return new Set(firstIndex.keys());
}

function eachObject(list: unknown, visit: (item: Record<string, unknown>, index: number) => void): void {
  if (!Array.isArray(list)) return;
  list.forEach((item: unknown, index) => {
    if (isPlainObject(item)) visit(item, index);
  });
}
