/**
 * Lua scripts sent by their SHA1 (EVALSHA) instead of their body (EVAL), in
 * call order. A connection sends a script's body the first time it runs it
 * (EVAL, which also caches it in Redis) and its SHA1 after that, until the
 * connection closes: the next one may reach a restarted Redis, so it starts
 * over. Commands on a connection run in the order written, so a SHA1 never
 * arrives before its body. Only a SCRIPT FLUSH under a live connection (or a
 * command ioredis carries over a reconnect) meets NOSCRIPT: that script did
 * not run, and runs once when its body follows.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

const shas = new Map<string, string>();

function shaOf(lua: string): string {
  let sha = shas.get(lua);
  if (sha === undefined) {
    sha = createHash('sha1').update(lua).digest('hex');
    shas.set(lua, sha);
  }
  return sha;
}

/** The scripts each connection has sent the body of since it last (re)connected. */
const sentOn = new WeakMap<Redis, Set<string>>();

function sentScripts(redis: Redis): Set<string> {
  let sent = sentOn.get(redis);
  if (!sent) {
    const scripts = new Set<string>();
    redis.on('close', () => scripts.clear());
    sentOn.set(redis, scripts);
    sent = scripts;
  }
  return sent;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** Runs `lua` on `redis` as EVAL would, by its SHA1 once this connection has sent its body. */
export async function evalScript(redis: Redis, lua: string, numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<unknown> {
  const sha = shaOf(lua);
  const sent = sentScripts(redis);
  if (!sent.has(sha)) {
    sent.add(sha);
    return redis.eval(lua, numberOfKeys, ...keysAndArgs);
  }
  try {
    return await redis.evalsha(sha, numberOfKeys, ...keysAndArgs);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return redis.eval(lua, numberOfKeys, ...keysAndArgs);
  }
}
