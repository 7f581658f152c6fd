/**
 * A server in a pod, reached through the Kubernetes API server's pod proxy
 * (`/api/v1/namespaces/{ns}/pods/{name}:{port}/proxy/{path}`): the worker
 * need not be on the pod network, and the kubeconfig's credentials (token,
 * client certificate, exec plugin) apply as for every other call. Needs the
 * RBAC verbs on `pods/proxy` (see deploy/kubernetes/rbac.yaml). The API
 * server answers 503 when it cannot reach the pod; the server's own answers
 * come back as they are.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { serverRequestHeaders, type ServerHttp, type TimedFetchOutcome } from './timed-fetch.js';

export interface PodTarget {
  namespace: string;
  pod: string;
  /** The container port the server listens on. */
  port: number;
}

export function podProxyHttp(config: KubeConfig, server: string, target: PodTarget): ServerHttp {
  const base = `${server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}:${target.port}/proxy`;
  return async (request, options) => {
    if (options.signal?.aborted) return { answered: false, reason: 'aborted', detail: 'aborted' };
    const url = new URL(`${base}${request.path}`);
    const requestOptions: https.RequestOptions = { method: request.method, headers: serverRequestHeaders(request) };
    try {
      // Adds the credentials, the CA and the client certificate (an https agent) as the client library does.
      await config.applyToHTTPSOptions(requestOptions);
    } catch (error) {
      return { answered: false, reason: 'connection', detail: `credentials: ${error instanceof Error ? error.message : String(error)}` };
    }
    const plain = url.protocol === 'http:';
    if (plain) delete requestOptions.agent;
    return new Promise<TimedFetchOutcome<string>>((resolve) => {
      let settled = false;
      const finish = (outcome: TimedFetchOutcome<string>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const outgoing = (plain ? http : https).request(url, requestOptions, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => finish({ answered: true, status: answer.statusCode ?? 0, value: Buffer.concat(chunks).toString('utf8') }));
        answer.on('error', (error) => finish({ answered: false, reason: 'connection', detail: error.message }));
      });
      const timer = setTimeout(() => {
        finish({ answered: false, reason: 'timeout', detail: `no answer within ${options.timeoutMs} ms` });
        outgoing.destroy();
      }, Math.max(1, options.timeoutMs));
      const onAbort = (): void => {
        finish({ answered: false, reason: 'aborted', detail: 'aborted' });
        outgoing.destroy();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      outgoing.on('error', (error: NodeJS.ErrnoException) => finish({ answered: false, reason: 'connection', detail: error.code ?? error.message }));
      outgoing.end(request.body);
    });
  };
}
