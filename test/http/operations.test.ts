import test from 'ava';
import { createRoutes } from '../../src/http/routes.js';
import { allows, operationIds, operations } from '../../src/http/operations.js';
import type { ControlPlane } from '../../src/actors/control-plane.js';

test('the router serves exactly the catalogued operations, each at its method and path', (t) => {
  // Registering routes calls nothing on the control plane.
  const router = createRoutes({} as ControlPlane);
  const served = router.stack.map((layer) => ({ name: layer.name, path: layer.path, methods: layer.methods.filter((method) => method !== 'HEAD') }));
  t.true(served.every((layer) => layer.name !== undefined), 'every route is named by its operation id');
  t.deepEqual(served.map((layer) => layer.name).sort(), [...operationIds].sort());
  for (const layer of served) {
    const operation = operations[layer.name as keyof typeof operations];
    t.deepEqual({ path: layer.path, methods: layer.methods }, { path: operation.path, methods: [operation.method] }, layer.name!);
  }
});

test('roles are ordered: viewer < operator < admin; public needs none', (t) => {
  t.true(allows('viewer', 'public'));
  t.true(allows('viewer', 'viewer'));
  t.false(allows('viewer', 'operator'));
  t.true(allows('operator', 'viewer'));
  t.false(allows('operator', 'admin'));
  t.true(allows('admin', 'operator'));
});

test('every mutation is a non-GET operation and needs at least an operator', (t) => {
  for (const id of operationIds) {
    const operation = operations[id];
    t.is(operation.mutation, operation.method !== 'GET', id);
    if (operation.mutation) t.true(operation.access === 'operator' || operation.access === 'admin', id);
  }
});
