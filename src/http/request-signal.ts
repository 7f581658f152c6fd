/** An AbortSignal that fires when the client goes away before the response is sent. */
import type { Context } from 'koa';

export function requestSignal(ctx: Context): AbortSignal {
  const controller = new AbortController();
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) controller.abort(new Error('client closed the connection'));
  });
  return controller.signal;
}
