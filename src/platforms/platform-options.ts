/**
 * Per-platform option schemas, looked up by platform type, so the layers
 * above (HTTP, actors, transport) carry `platformOptions` as opaque data and
 * never need to know which platform they are for.
 */
import { z } from 'zod';
import { BadRequestError } from '../errors.js';
import { dockerPlatformOptionsSchema } from './docker-options.js';
import type { PlatformType } from './driver.js';
import { kubernetesPlatformOptionsSchema } from './kubernetes-options.js';

/** Platforms without options accept none (an empty object or nothing). */
const noOptions = z.object({}).strict();

export const platformOptionSchemas: Record<PlatformType, z.ZodType<Record<string, unknown>>> = {
  process: noOptions,
  docker: dockerPlatformOptionsSchema,
  kubernetes: kubernetesPlatformOptionsSchema,
};

/**
 * The instance's platform options parsed by the platform's schema, as a
 * driver checks them again before it creates anything (they travel through
 * the transport as plain data). Throws `BadRequestError` naming every issue.
 */
export function parsePlatformOptions<T>(platform: PlatformType, schema: z.ZodType<T>, options: Record<string, unknown> | undefined): T {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
  throw new BadRequestError(`invalid ${platform} platform options: ${issues.join('; ')}`, { platform, issues });
}
