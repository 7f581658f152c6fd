/**
 * The Docker platform's per-instance options (`platformOptions` in the
 * create body), validated at the boundary and again by the driver (they
 * travel through the transport as plain data).
 */
import { z } from 'zod';
import { imageReferenceSchema } from './image-reference.js';

/** The image Docker instances run unless they or the worker name another (a pinned release, never `latest`). */
export const defaultDockerImage = 'ghcr.io/drasi-project/drasi-server:0.2.0';

export const dockerNetworkModes = ['bridge', 'host'] as const;
export type DockerNetworkMode = (typeof dockerNetworkModes)[number];

export const dockerPlatformOptionsSchema = z
  .object({
    /** Default: the worker's `--docker-image`. */
    image: imageReferenceSchema.optional(),
    /** Memory limit in MiB (hard limit; the kernel OOM-kills above it). */
    memoryMb: z.number().int('must be a whole number of MiB').min(16, 'must be at least 16').max(1_048_576).optional(),
    /** CPU limit in CPUs (fractions allowed, e.g. 0.5). */
    cpus: z.number().positive('must be above 0').max(1024).optional(),
    /**
     * `bridge`: the container's port published on 127.0.0.1 of the Docker
     * host; `host`: the server binds on the host's network directly.
     * Default: the worker's `--docker-network`.
     */
    network: z.enum(dockerNetworkModes).optional(),
  })
  .strict();

export type DockerPlatformOptions = z.infer<typeof dockerPlatformOptionsSchema>;
