/**
 * Reads a JSON request body (any JSON value: a JSON Patch is an array) of
 * at most `maxBytes`. A larger one is 413 naming the limit (counted as it
 * arrives, so a chunked body without a Content-Length is cut off too); a
 * charset or content coding it cannot read is 415; malformed JSON is 400.
 * What the media type check let through is the only thing it parses.
 */
import { bodyParser } from '@koa/bodyparser';
import { DraasError } from '../errors.js';

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number' ? error.status : undefined;
}

export function jsonBody(maxBytes: number) {
  return bodyParser({
    // Its default JSON types include application/json-patch+json. (extendTypes merges arrays by
    // index and would replace application/json.)
    enableTypes: ['json'],
    jsonLimit: maxBytes,
    jsonStrict: false,
    onError: (error) => {
      const message = error instanceof Error ? error.message : String(error);
      switch (statusOf(error)) {
        case 413:
          throw new DraasError('payload-too-large', `request body is larger than the limit of ${maxBytes} bytes`, { limit: maxBytes });
        case 415:
          throw new DraasError('unsupported-media-type', `request body cannot be read: ${message}`);
        default:
          throw new DraasError('bad-request', `request body is not valid JSON: ${message}`);
      }
    },
  });
}
