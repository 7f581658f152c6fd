/** An image reference as container runtimes accept it, shared by the Docker and Kubernetes option schemas. */
import { z } from 'zod';

/** `[registry/]name[:tag][@digest]` with a lowercase repository. */
export const imageReferenceSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(
    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    'must be an image reference such as ghcr.io/drasi-project/drasi-server:0.2.1',
  );
