/**
 * Per-platform option schemas, looked up by platform type, so the layers
 * above (HTTP, actors, transport) carry `platformOptions` as opaque data and
 * never need to know which platform they are for.
 */
import { z } from 'zod';
import { dockerPlatformOptionsSchema } from './docker-options.js';
import type { PlatformType } from './driver.js';

/** Platforms without options accept none (an empty object or nothing). */
const noOptions = z.object({}).strict();

export const platformOptionSchemas: Record<PlatformType, z.ZodType<Record<string, unknown>>> = {
  process: noOptions,
  docker: dockerPlatformOptionsSchema,
  kubernetes: noOptions,
};
