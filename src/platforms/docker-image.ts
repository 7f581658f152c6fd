/**
 * Makes sure an image is on the Engine: present → nothing to do; absent →
 * pulled, with its progress reported line by line (one report per layer
 * status change, not per byte). A pull that fails says why, in one sentence.
 */
import type Docker from 'dockerode';
import { DraasError, WorkloadFailedError, errorMessage } from '../errors.js';
import { noExit } from './workload-support.js';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One pull progress object from the Engine → a line for people, or undefined for byte counters. Pure. */
export function describePullProgress(raw: unknown, lastStatusById: Map<string, string>): string | undefined {
  if (!isRecord(raw)) return undefined;
  if (typeof raw['error'] === 'string') return `error: ${raw['error']}`;
  const status = typeof raw['status'] === 'string' ? raw['status'] : undefined;
  if (!status) return undefined;
  const id = typeof raw['id'] === 'string' ? raw['id'] : '';
  if (lastStatusById.get(id) === status) return undefined;
  lastStatusById.set(id, status);
  return id ? `${id}: ${status}` : status;
}

async function isPresent(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (error) {
    if (statusCodeOf(error) === 404) return false;
    throw error;
  }
}

export function statusCodeOf(error: unknown): number | undefined {
  return isRecord(error) && typeof error['statusCode'] === 'number' ? error['statusCode'] : undefined;
}

/** Resolves once `image` is on the Engine; rejects with a WorkloadFailedError naming the image and the reason. */
export async function ensureImage(docker: Docker, image: string, progress: (line: string) => void): Promise<void> {
  if (await isPresent(docker, image)) return;
  progress(`pulling image ${image} (not present on the Docker Engine)`);
  const seen = new Map<string, string>();
  try {
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error: Error | null, output: unknown[]) => {
          if (error) return reject(error);
          // The Engine reports some failures (e.g. an unknown tag) inside the stream, with a 200.
          const failed = output.find((entry) => isRecord(entry) && typeof entry['error'] === 'string');
          if (failed && isRecord(failed)) return reject(new Error(String(failed['error'])));
          resolve();
        },
        (event: unknown) => {
          const line = describePullProgress(event, seen);
          if (line) progress(line);
        },
      );
    });
  } catch (error) {
    // The Engine not reached (its circuit open, no connection) is said as such: a 503, not a bad image.
    if (error instanceof DraasError && error.code === 'unavailable') throw error;
    throw new WorkloadFailedError(`image ${image} is not present and could not be pulled: ${pullErrorMessage(error)}`, { ...noExit(), image });
  }
  progress(`pulled image ${image}`);
}

/** The Engine's own message when it sent one (e.g. `{"message":"Get https://…: dial tcp: lookup …"}`), else the error's. */
function pullErrorMessage(error: unknown): string {
  if (isRecord(error) && isRecord(error['json']) && typeof error['json']['message'] === 'string') return error['json']['message'];
  return errorMessage(error).replace(/^\(HTTP code \d+\) [a-z ]+ - /, '').trim();
}
