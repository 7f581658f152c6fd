/** `draas up` as a child process (through tsx), for tests that kill and restart it. */
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface DraasUp {
  child: ResultPromise;
  /** The API's base URL, once it listens (rejects when it exits first). */
  url: Promise<string>;
  /** Everything it printed on stderr so far. */
  output: () => string;
}

/** Starts `draas up --port 0 <args>`; `node` is given `nodeArguments` after tsx's, and `env` on top of this process's. */
export function draasUp(args: string[], options: { nodeArguments?: string[]; env?: Record<string, string> } = {}): DraasUp {
  const child = execa('node', ['--import=tsx', ...(options.nodeArguments ?? []), cli, 'up', '--port', '0', ...args], {
    reject: false,
    buffer: false,
    stdin: 'ignore',
    ...(options.env ? { env: options.env } : {}),
  });
  let seen = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening on (http:\/\/[\d.:]+)/.exec(seen);
      if (match) resolve(match[1]!);
    });
    void child.then(() => reject(new Error(`draas up exited early:\n${seen}`)));
  });
  return { child, url, output: () => seen };
}

/** The JSON body of a response; throws with the body on a status of 300 or more. */
export async function json<T>(response: Promise<Response>): Promise<T> {
  const result = await response;
  const body = (await result.json()) as T;
  if (result.status >= 300) throw new Error(`${result.status}: ${JSON.stringify(body)}`);
  return body;
}
