/** `GET /api/platforms` as the circuit tests read it, and polling until a condition gives a value. */
import type { ApiCall } from './http-api.js';

export interface Circuit {
  kind: string;
  workerId: string;
  name: string;
  status: string;
  consecutiveFailures: number;
  openedAt: string | null;
  nextProbeAt: string | null;
  lastError: string | null;
}

export interface PlatformAnswer {
  platform: string;
  available: boolean;
  reason?: string;
  workers: { workerId: string; available: boolean; details: Record<string, unknown> }[];
  circuits: Circuit[];
}

/** One platform of `GET /api/platforms`. */
export async function platformNamed(call: ApiCall, name: string): Promise<PlatformAnswer> {
  const answer = await call('GET', '/api/platforms');
  return (answer.body as unknown as { platforms: PlatformAnswer[] }).platforms.find((platform) => platform.platform === name)!;
}

/** Polls `check` every 200 ms until it gives a value; fails after `timeoutMs`. */
export async function pollFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
