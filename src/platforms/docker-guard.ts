/**
 * Puts every Docker Engine API call of a dockerode client through an
 * `EngineGuard`. dockerode sends each request through its modem's `dial`, so
 * that one place covers them all: pings, inspects, creates, pulls and the
 * event stream. A read is retried on connection trouble and 5xx; any request
 * is retried when no connection could be made (nothing was sent), unless its
 * body is a stream that cannot be sent twice. Streams (events, followed logs,
 * attaches) count once they are open; what fails later is their reader's
 * business (the event stream reconnects on its own).
 */
import type Docker from 'dockerode';
import type DockerModem from 'docker-modem';
import { dockerFault } from './engine-faults.js';
import type { EngineGuard } from './engine-guard.js';

type Dial = (options: DockerModem.DialOptions, callback?: DockerModem.RequestCallback) => void;
type DialResult = Parameters<DockerModem.RequestCallback>[1];

/**
 * `readTimeoutMs`: the longest a plain read (a GET that is not a stream: a
 * ping, an inspect, a list, a log tail) may take; one that takes longer
 * counts against the Engine (a hung daemon answers nothing at all).
 */
export function guardDockerClient(docker: Docker, guard: EngineGuard, readTimeoutMs: number): void {
  const modem = docker.modem as unknown as { dial: Dial };
  const dial: Dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    const method = options.method ?? 'GET';
    // A stream body is read once; a hijacked or streamed answer is not a request to repeat.
    const replayable = (options.file === undefined || typeof options.file === 'string' || Buffer.isBuffer(options.file)) && !options.hijack && !options.isStream;
    const attempt = (_number: number, signal: AbortSignal | undefined) =>
      new Promise<DialResult>((resolve, reject) => {
        // dial rewrites the options it is given (the API version into the path): each attempt gets its own copy.
        dial({ ...options, ...(signal ? { abortSignal: signal } : {}) }, (error, result) => (error ? reject(error) : resolve(result)));
      });
    const plainRead = method === 'GET' && !options.isStream && !options.hijack;
    guard
      .call(attempt, (error) => dockerFault(error, method, replayable), {
        ...(options.abortSignal ? { signal: options.abortSignal } : {}),
        ...(plainRead ? { timeoutMs: readTimeoutMs } : {}),
      })
      .then(
        (result) => callback?.(null, result),
        (error: unknown) => callback?.(error instanceof Error ? error : new Error(String(error)), null),
      );
  };
}
