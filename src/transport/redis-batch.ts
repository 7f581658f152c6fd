/**
 * Commands issued during one turn of the event loop, sent to Redis in one
 * write. Under load a socket write per command is what a round trip costs
 * most (a syscall each, on both sides); collecting the commands of one tick
 * (until `process.nextTick`, as ioredis's own auto-pipelining does) and
 * sending them as one ioredis pipeline costs one write for all of them.
 *
 * A pipeline, not a transaction: each command succeeds or fails on its own,
 * and its caller gets exactly what a direct call would have given it (its
 * reply, or its error: a reply error, or the connection's error while Redis
 * is unreachable). Commands are written in the order they were issued. A
 * command alone in its tick is sent directly.
 */
import type { Redis } from 'ioredis';

type Argument = string | number;

interface Queued {
  command: string;
  args: Argument[];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class TickPipeline {
  private queued: Queued[] = [];

  constructor(private readonly redis: Redis) {}

  /** Sends `command` with the others of this tick; resolves with its own reply. */
  call(command: string, args: Argument[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.queued.length === 0) process.nextTick(() => this.flush());
      this.queued.push({ command, args, resolve, reject });
    });
  }

  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 1) {
      const [only] = batch;
      this.redis.call(only!.command, ...only!.args).then(only!.resolve, only!.reject);
      return;
    }
    const pipeline = this.redis.pipeline();
    for (const item of batch) pipeline.call(item.command, ...item.args);
    pipeline.exec().then(
      (results) => {
        batch.forEach((item, i) => {
          const [error, value] = results?.[i] ?? [new Error('no reply in the pipeline'), undefined];
          if (error) item.reject(error);
          else item.resolve(value);
        });
      },
      (error: unknown) => {
        for (const item of batch) item.reject(error);
      },
    );
  }
}
