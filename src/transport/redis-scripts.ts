/**
 * Lua scripts for the few steps that must be atomic. Key names are always
 * passed in KEYS (built by `RedisKeys`), never assembled inside a script.
 */
import type { Redis } from 'ioredis';

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
  const touched = await redis.eval(touchIfOwned, 1, stream, group, consumer, Math.max(0, Math.round(idleMs)), ...ids);
  return Number(touched);
}

export async function deleteConsumerWhenIdle(redis: Redis, stream: string, group: string, consumer: string): Promise<boolean> {
  return Number(await redis.eval(deleteConsumerIfIdle, 1, stream, group, consumer)) === 1;
}

export async function pruneExpiredMembers(
  redis: Redis,
  index: string,
  members: ReadonlyArray<{ member: string; key: string }>,
): Promise<number> {
  if (members.length === 0) return 0;
  const keys = [index, ...members.map((m) => m.key)];
  const removed = await redis.eval(pruneIndex, keys.length, ...keys, ...members.map((m) => m.member));
  return Number(removed);
}
