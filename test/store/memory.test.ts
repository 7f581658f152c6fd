import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import { instanceStoreContract } from './contract.js';

instanceStoreContract('memory', async (t, options = {}) => {
  const store = new MemoryInstanceStore(options.changeLogLimit);
  t.teardown(() => store.close());
  return store;
});
