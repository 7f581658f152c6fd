/**
 * The machine view's step queue (a browser module, pure): every item is
 * played in order, and the newest lands within
 * the budget however many arrive at once.
 */
import test from 'ava';
import { StepQueue } from '../../src/http/ui/step-queue.js';

function recorder(budgetMs: number, maxStepMs: number) {
  const events: { kind: 'begin' | 'land'; item: number; at: number }[] = [];
  const queue = new StepQueue<number>({
    budgetMs,
    maxStepMs,
    begin: (item) => events.push({ kind: 'begin', item, at: performance.now() }),
    land: (item) => events.push({ kind: 'land', item, at: performance.now() }),
  });
  const landed = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => (events.filter((event) => event.kind === 'land').length >= count ? resolve() : setTimeout(check, 5));
      check();
    });
  return { events, queue, landed };
}

/**
 * When a plain timer of `ms` set now fires: the budget as this (maybe loaded)
 * machine keeps it, so that the queue is judged against the event loop's own
 * lateness rather than against the wall clock.
 */
function budgetTimer(ms: number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(performance.now()), ms));
}

/** A few task hops of slack beyond the budget timer: each step is a task of its own. */
const HOPS_MS = 60;

test('a lone item plays for its whole step', async (t) => {
  const { events, queue, landed } = recorder(250, 200);
  const start = performance.now();
  queue.push(1);
  t.deepEqual(events.map((event) => event.kind), ['begin'], 'begins at once');
  await landed(1);
  const took = events[1]!.at - start;
  t.true(took >= 190 && took < 400, `landed after ${took} ms`);
});

test('a burst plays every item in order and the newest lands within the budget', async (t) => {
  const { events, queue, landed } = recorder(250, 250);
  const start = performance.now();
  const budget = budgetTimer(250);
  for (let item = 1; item <= 6; item += 1) queue.push(item);
  await landed(6);
  t.deepEqual(
    events.map((event) => `${event.kind} ${event.item}`),
    [1, 2, 3, 4, 5, 6].flatMap((item) => [`begin ${item}`, `land ${item}`]),
  );
  const last = events.at(-1)!.at - start;
  const kept = (await budget) - start;
  t.true(last < kept + HOPS_MS, `the newest landed after ${last} ms; a 250 ms timer fired after ${kept} ms`);
});

test('an item arriving during a long step shortens it', async (t) => {
  const { events, queue, landed } = recorder(250, 250);
  queue.push(1);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = performance.now();
  const budget = budgetTimer(250);
  queue.push(2);
  await landed(2);
  const last = events.at(-1)!.at - second;
  const kept = (await budget) - second;
  t.true(last < kept + HOPS_MS, `the newest landed ${last} ms after it arrived; a 250 ms timer fired after ${kept} ms`);
});

test('clear drops what is queued', async (t) => {
  const { events, queue } = recorder(250, 50);
  queue.push(1);
  queue.push(2);
  queue.clear();
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.deepEqual(events.map((event) => event.kind), ['begin']);
});
