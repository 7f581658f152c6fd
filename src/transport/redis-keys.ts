/**
 * Every Redis key and consumer-group name the Redis transport uses, built in
 * one place from a configurable prefix (default `draas:`). Each family has its
 * own segment, so a queue, topic, node or platform name can never collide with
 * a key of another family.
 *
 * | key | type | holds |
 * |---|---|---|
 * | `<p>queue:<queue>` | stream + group `workers` | pending commands of one queue |
 * | `<p>queue-errors:<queue>` | hash entryId → JSON | last handler crash of each pending command |
 * | `<p>dead-letter:<queue>` | stream | commands that exhausted their deliveries |
 * | `<p>replies:<nodeId>` | stream, expires | replies for the requests of one transport |
 * | `<p>events:<topic>` | capped stream | events of one topic |
 * | `<p>workers:<platform>:<workerId>` | string JSON, PX ttl | one worker's presence |
 * | `<p>worker-index:<platform>` | set of workerIds | which presence keys to read |
 * | `<p>worker-platforms` | set of platforms | which indexes exist |
 */
export const DEFAULT_PREFIX = 'draas:';

/** The single consumer group of every command stream. */
export const COMMAND_GROUP = 'workers';

export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}

  commandStream(queue: string): string {
    return `${this.prefix}queue:${queue}`;
  }

  commandErrors(queue: string): string {
    return `${this.prefix}queue-errors:${queue}`;
  }

  deadLetter(queue: string): string {
    return `${this.prefix}dead-letter:${queue}`;
  }

  replies(nodeId: string): string {
    return `${this.prefix}replies:${nodeId}`;
  }

  events(topic: string): string {
    return `${this.prefix}events:${topic}`;
  }

  worker(platform: string, workerId: string): string {
    return `${this.prefix}workers:${platform}:${workerId}`;
  }

  workerIndex(platform: string): string {
    return `${this.prefix}worker-index:${platform}`;
  }

  workerPlatforms(): string {
    return `${this.prefix}worker-platforms`;
  }
}
