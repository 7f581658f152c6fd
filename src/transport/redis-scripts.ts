/**
 * Lua scripts for the few steps that must be atomic. Key names are always
 * passed in KEYS (built by `RedisKeys`), never assembled inside a script.
 */
import type { Redis } from 'ioredis';
import { evalScript } from '../redis/scripts.js';

/**
 * Resets the idle time of entries this consumer still owns, without counting
 * a delivery (XCLAIM … JUSTID). With IDLE 0 it is a heartbeat that keeps a
 * slow handler's entry from being reclaimed; with a larger IDLE it releases
 * an entry for an early retry. An entry another consumer took is left alone.
 */
const touchIfOwned = `
local touched = 0
for i = 4, #ARGV do
  local rows = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  local row = rows[1]
  if row and row[2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
    touched = touched + 1
  end
end
return touched
`;

/**
 * Finishes handled commands of one queue, in one atomic step: for each, its
 * reply is appended to its requester's reply stream (capped), each reply
 * stream's expiry is refreshed once, then all of them are acknowledged, deleted from
 * the queue's stream and their recorded crash errors dropped. The same
 * effects, one EVAL for a batch instead of a MULTI of seven commands per
 * command. As in that MULTI, a reply that cannot be written (the reply key
 * holds another type) does not keep its entry from being acknowledged: its
 * error is returned (id, message, …) for the log.
 *
 * KEYS[1] the command stream, KEYS[2] its errors hash, KEYS[3…] the reply
 * streams. ARGV: group, reply MAXLEN, reply TTL (ms), then four per entry:
 * id, index of its reply stream in KEYS (0: none, it was sent without a
 * requester), requestId, the reply's JSON.
 */
const completeEntries = `
local failed = {}
local ids = {}
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  local k = tonumber(ARGV[i + 1])
  if k > 0 then
    local added = redis.pcall('XADD', KEYS[k], 'MAXLEN', '~', ARGV[2], '*', 'requestId', ARGV[i + 2], 'reply', ARGV[i + 3])
    if type(added) == 'table' and added.err then
      failed[#failed + 1] = id
      failed[#failed + 1] = added.err
    end
  end
  ids[#ids + 1] = id
end
for k = 3, #KEYS do
  redis.pcall('PEXPIRE', KEYS[k], ARGV[3])
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.call('XDEL', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
return failed
`;

/** Most entries one `completeEntries` call carries (Lua's unpack has a stack limit far above this). */
export const COMPLETE_BATCH_MAX = 256;

export interface Completion {
  /** The entry's id in the command stream. */
  id: string;
  /** The requester's reply stream; empty for a command sent without one. */
  replyTo: string;
  requestId: string;
  /** The reply envelope, as JSON. */
  reply: string;
}

/**
 * Runs `completeEntries` for up to `COMPLETE_BATCH_MAX` entries; resolves
 * with the replies that could not be written (entry id and Redis's error).
 */
export async function completeHandled(
  redis: Redis,
  target: { stream: string; errors: string; group: string; replyMaxLen: number; replyTtlMs: number },
  entries: readonly Completion[],
): Promise<Array<{ id: string; error: string }>> {
  if (entries.length === 0) return [];
  if (entries.length > COMPLETE_BATCH_MAX) throw new RangeError(`at most ${COMPLETE_BATCH_MAX} entries per call (got ${entries.length})`);
  const keys = [target.stream, target.errors];
  const replyKeyIndex = new Map<string, number>();
  const args: string[] = [target.group, String(target.replyMaxLen), String(Math.max(1, Math.round(target.replyTtlMs)))];
  for (const entry of entries) {
    let index = 0;
    if (entry.replyTo) {
      index = replyKeyIndex.get(entry.replyTo) ?? 0;
      if (index === 0) {
        keys.push(entry.replyTo);
        index = keys.length; // Lua's KEYS is 1-based
        replyKeyIndex.set(entry.replyTo, index);
      }
    }
    args.push(entry.id, String(index), entry.requestId, entry.reply);
  }
  const failed: unknown = await evalScript(redis, completeEntries, keys.length, ...keys, ...args);
  const result: Array<{ id: string; error: string }> = [];
  if (Array.isArray(failed)) {
    for (let i = 0; i + 1 < failed.length; i += 2) result.push({ id: String(failed[i]), error: String(failed[i + 1]) });
  }
  return result;
}

/** Deletes a consumer from its group only when it owns no pending entry (DELCONSUMER would drop them). */
const deleteConsumerIfIdle = `
local rows = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #rows == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
`;

/** Removes index members whose presence key expired (KEYS[1] the index, KEYS[i+1] the key of ARGV[i]). */
const pruneIndex = `
local removed = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], ARGV[i - 1])
  end
end
return removed
`;

export async function touchOwnedEntries(
  redis: Redis,
  stream: string,
  group: string,
  consumer: string,
  idleMs: number,
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return 0;
  const touched = await evalScript(redis, touchIfOwned, 1, stream, group, consumer, Math.max(0, Math.round(idleMs)), ...ids);
  return Number(touched);
}

export async function deleteConsumerWhenIdle(redis: Redis, stream: string, group: string, consumer: string): Promise<boolean> {
  return Number(await evalScript(redis, deleteConsumerIfIdle, 1, stream, group, consumer)) === 1;
}

export async function pruneExpiredMembers(
  redis: Redis,
  index: string,
  members: ReadonlyArray<{ member: string; key: string }>,
): Promise<number> {
  if (members.length === 0) return 0;
  const keys = [index, ...members.map((m) => m.key)];
  const removed = await evalScript(redis, pruneIndex, keys.length, ...keys, ...members.map((m) => m.member));
  return Number(removed);
}
