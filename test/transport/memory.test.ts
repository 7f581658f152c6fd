import { MemoryTransport } from '../../src/transport/memory.js';
import { transportContract } from './contract.js';

transportContract('memory', async (t) => {
  const transport = new MemoryTransport();
  t.teardown(() => transport.close());
  return { requester: transport, worker: transport };
});
