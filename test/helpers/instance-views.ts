/** Made-up instance views for tests of what shows them (the console's fleet), with what a test cares about overridden. */
import type { InstanceView } from '../../src/api/instance-view.js';

export function sampleView(name: string, at: string, overrides: Partial<InstanceView> = {}): InstanceView {
  const status = overrides.status ?? 'Running';
  return {
    id: name,
    name,
    description: '',
    platformType: 'process',
    status,
    desiredState: 'Running',
    observedState: 'Running',
    generation: 1,
    observedGeneration: 1,
    serverConfiguration: {} as InstanceView['serverConfiguration'],
    platformOptions: {},
    updateStrategy: 'auto',
    runtime: null,
    workerId: null,
    conditions: [],
    failure: null,
    nextRetryAt: null,
    restartCount: 0,
    lastTransition: { at, from: 'Starting', to: status, cause: 'test' },
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}
