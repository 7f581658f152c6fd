/** A tiny client for the REST API in tests: JSON in, status, headers and parsed JSON out. */
import type { InstanceView } from '../../src/api/instance-view.js';

export type ApiCall = (
  method: string,
  route: string,
  body?: unknown,
) => Promise<{ status: number; headers: Headers; body: Record<string, unknown> & InstanceView }>;

export function api(base: string): ApiCall {
  return async (method, route, body) => {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const response = await fetch(base + route, init);
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> & InstanceView };
  };
}

/** The status of `GET http://127.0.0.1:<port>/health`. */
export async function health(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  await response.arrayBuffer();
  return response.status;
}
