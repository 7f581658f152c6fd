import { cloneTree } from './clone-tree.js';
import type { DrasiServerConfig } from './config-schema.js';
import { isPlainObject } from './plain-object.js';
import { parseDrasiConfig } from './validate-config.js';

/** Where and how DRaaS runs one instance's server. */
export interface ServerSettings {
  /** The DRaaS instance id; becomes the server's `id` (otherwise a fresh UUID each start). */
  id: string;
  host: string;
  /** Overrides the user's `logLevel` when given. */
  logLevel?: string;
  /** Overrides the user's `port` when given. */
  port?: number;
}

/** Keys DRaaS decides; they lead the rendered document so an operator sees them first. */
const SERVER_KEYS = ['id', 'host', 'port', 'logLevel', 'persistConfig'] as const;

/**
 * The document DRaaS hands to Drasi Server: the user's config with the server
 * settings DRaaS owns filled in.
 * - `id` is the instance id, so logs and state are tied to the instance.
 * - `host` (and `port` when given) is where DRaaS expects the API.
 * - `logLevel`: the instance's setting, else the user's, else `info`.
 * - `persistConfig: false` always: DRaaS owns the config, and the server
 *   would otherwise rewrite its file after API changes.
 * The result is validated like a user document (an invalid host or port in
 * the settings throws `InvalidConfigError`) and shares nothing with the input.
 */
export function buildServerConfig(userConfig: DrasiServerConfig, server: ServerSettings): Record<string, unknown> {
  const user = cloneTree(userConfig);
  const rest = isPlainObject(user) ? user : {};
  const { apiVersion, ...others } = rest;
  const port = server.port ?? rest['port'];
  const logLevel = server.logLevel ?? rest['logLevel'] ?? 'info';

  const leading: Array<[string, unknown]> = [];
  if (apiVersion !== undefined) leading.push(['apiVersion', apiVersion]);
  leading.push(['id', server.id], ['host', server.host]);
  if (port !== undefined) leading.push(['port', port]);
  leading.push(['logLevel', logLevel], ['persistConfig', false]);
  const owned = new Set<string>(SERVER_KEYS);
  const following = Object.entries(others).filter(([key]) => !owned.has(key));
  // fromEntries defines own properties: no key of the user's can reach a prototype.
  const document: Record<string, unknown> = Object.fromEntries([...leading, ...following]);
  parseDrasiConfig(document);
  return document;
}
