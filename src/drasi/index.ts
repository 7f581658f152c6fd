/**
 * The Drasi Server config model: schema, validation, rendering, the document
 * handed to the server, and JSON Patch updates. Pure: no I/O anywhere.
 */
export {
  drasiServerConfigSchema,
  instanceSchema,
  querySchema,
  reactionSchema,
  sourceSchema,
  sourceSubscriptionSchema,
  LOG_LEVELS,
  type DrasiInstanceConfig,
  type DrasiServerConfig,
  type LogLevel,
  type QueryConfig,
  type ReactionConfig,
  type SourceConfig,
  type SourceSubscriptionConfig,
} from './config-schema.js';
export { parseDrasiConfig, parseDrasiConfigYaml } from './validate-config.js';
export { renderConfigYaml, renderServerConfigYaml } from './render-config.js';
export { buildServerConfig, type ServerSettings } from './server-config.js';
export { applyConfigPatch, MAX_PATCH_OPERATIONS, type ConfigPatchResult } from './config-patch.js';
export { MAX_CONFIG_VALUES, MAX_JSON_DEPTH, measureJson, type JsonShape } from './json-limits.js';
export { containsEnvRef, isEnvRef } from './env-ref.js';
export {
  compareWithServer,
  effectiveAutoStart,
  planConfigChange,
  serverLevelChanges,
  type ComponentCall,
  type ComponentKind,
  type ComponentRef,
  type ComponentStatus,
  type ConfigChangePlan,
  type Difference,
  type DriftReport,
  type ObservedComponent,
  type ObservedComponents,
  type PlanOptions,
  type ServerConfigDocument,
} from './component-plan.js';
