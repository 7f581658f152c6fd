#!/usr/bin/env node
/**
 * The Drasi Server double, launched under the model test's control: before it
 * serves, it asks the test whether this launch succeeds (`ok`) or fails (exit
 * 1 before binding, as a server with a bad config does), and on SIGINT it asks
 * the test when to exit. The test holds both answers until the path it runs
 * lets them go (see test/model/gates.ts), as are the changing calls to its
 * component API (through the double's DRASI_DOUBLE_COMPONENT_GATE). Environment: MODEL_CONTROL_URL (the
 * test's control server), MODEL_INSTANCE (the instance id), MODEL_DOUBLE (optional).
 */
const control = process.env.MODEL_CONTROL_URL;
const instance = process.env.MODEL_INSTANCE;
if (!control || !instance) {
  process.stderr.write('Error: MODEL_CONTROL_URL and MODEL_INSTANCE must be set\n');
  process.exit(1);
}

async function ask(what) {
  try {
    const response = await fetch(`${control}/${what}/${encodeURIComponent(instance)}`);
    return await response.text();
  } catch {
    // The test is gone (a launch its path no longer waits for): nobody may see this server, so it does not serve.
    return 'fail';
  }
}

// The double's own SIGINT handler only logs then; this one exits when the test says so.
process.env.DRASI_DOUBLE_IGNORE_SIGINT = '1';
// Each call to its component API (a hot apply, a drift repair) waits for the test too.
process.env.DRASI_DOUBLE_COMPONENT_GATE = `${control}/apply/${encodeURIComponent(instance)}`;
let stopping = false;
process.on('SIGINT', () => {
  if (stopping) return;
  stopping = true;
  void ask('stop').then(() => process.exit(0));
});

const verdict = await ask('launch');
if (verdict !== 'ok') {
  process.stderr.write('Error: the model test failed this launch\n');
  process.exit(1);
}
// MODEL_DOUBLE: where the double is, relative to this file (the Docker test image keeps them side by side).
await import(process.env.MODEL_DOUBLE ?? '../fixtures/drasi-server-double.mjs');
