/**
 * The Kubernetes platform's per-instance options (`platformOptions` in the
 * create body), validated at the boundary and again by the driver (they
 * travel through the transport as plain data). Pure: zod only.
 */
import { z } from 'zod';
import { imageReferenceSchema } from './image-reference.js';

/** Where instances go that name no namespace. */
export const defaultKubernetesNamespace = 'draas';

/** A DNS-1123 label: what Kubernetes accepts as a namespace or a Secret's name part. */
export const kubernetesNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)');

/** A DNS-1123 subdomain: what Kubernetes accepts as the name of a Secret, a ServiceAccount or a StorageClass. */
const dnsSubdomain = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a DNS-1123 subdomain (lowercase letters, digits, "-" and ".")',
  );

/** A storage size as a Kubernetes quantity with a binary or decimal suffix, e.g. `1Gi`, `500Mi`, `10G`. */
const storageSize = z
  .string()
  .regex(/^[1-9][0-9]*(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)$/, 'must be a whole quantity with a unit, such as 500Mi or 1Gi');

export const kubernetesAccessModes = ['ReadWriteOnce', 'ReadWriteOncePod'] as const;

/**
 * A PersistentVolumeClaim for the server's data directory instead of an
 * `emptyDir` (which is lost with the pod). Only single-writer access modes:
 * one server per instance writes it.
 */
const storageSchema = z
  .object({
    /** Requested size. */
    size: storageSize,
    /** Default: the cluster's default StorageClass. */
    storageClassName: dnsSubdomain.optional(),
    /** Default ReadWriteOnce. */
    accessMode: z.enum(kubernetesAccessModes).optional(),
  })
  .strict();

export const kubernetesPlatformOptionsSchema = z
  .object({
    /** Default: the driver's namespace (`--kube-namespace`, `draas` unless set). */
    namespace: kubernetesNameSchema.optional(),
    /** Default: the driver's image (`--kube-image`), else the pinned Drasi Server release. */
    image: imageReferenceSchema.optional(),
    /** Memory in MiB, as both request and limit (the kernel OOM-kills above it). */
    memoryMb: z.number().int('must be a whole number of MiB').min(16, 'must be at least 16').max(1_048_576, 'must be at most 1048576').optional(),
    /** CPUs (fractions allowed, e.g. 0.5), as both request and limit. */
    cpus: z.number().positive('must be above 0').max(1024, 'must be at most 1024').optional(),
    /** A PersistentVolumeClaim for the data directory; without it the data lives in an `emptyDir`. */
    storage: storageSchema.optional(),
    /** Secrets (of type dockerconfigjson) the kubelet pulls the image with. */
    imagePullSecrets: z.array(dnsSubdomain).max(16, 'at most 16 secrets').optional(),
    /** The pod's ServiceAccount; default the namespace's `default`. */
    serviceAccountName: dnsSubdomain.optional(),
  })
  .strict();

export type KubernetesPlatformOptions = z.infer<typeof kubernetesPlatformOptionsSchema>;
export type KubernetesStorageOptions = z.infer<typeof storageSchema>;
