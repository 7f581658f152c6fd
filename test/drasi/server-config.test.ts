import test from 'ava';
import { InvalidConfigError } from '../../src/errors.js';
import { buildServerConfig, parseDrasiConfig, parseDrasiConfigYaml, renderServerConfigYaml } from '../../src/drasi/index.js';

const userConfig = parseDrasiConfig({
  apiVersion: 'drasi.io/v1',
  id: 'users-own-id',
  host: '0.0.0.0',
  port: 8080,
  logLevel: 'debug',
  persistConfig: true,
  sources: [{ kind: 'mock', id: 'sensors' }],
});

test('the server document takes id, host and port from DRaaS and never persists config', (t) => {
  const document = buildServerConfig(userConfig, { id: 'analytics-prod', host: '127.0.0.1', port: 18081 });
  t.like(document, { id: 'analytics-prod', host: '127.0.0.1', port: 18081, persistConfig: false, logLevel: 'debug' });
  t.deepEqual(document['sources'], [{ kind: 'mock', id: 'sensors' }]);
});

test('the server settings lead the document, the user keys follow in their order', (t) => {
  const document = buildServerConfig(userConfig, { id: 'i', host: '127.0.0.1', port: 18081 });
  t.deepEqual(Object.keys(document), ['apiVersion', 'id', 'host', 'port', 'logLevel', 'persistConfig', 'sources']);
});

test('persistConfig is false even when the user did not mention it', (t) => {
  const document = buildServerConfig(parseDrasiConfig({}), { id: 'i', host: '127.0.0.1' });
  t.deepEqual(document, { id: 'i', host: '127.0.0.1', logLevel: 'info', persistConfig: false });
});

test('logLevel: the instance setting wins, then the user value, then info', (t) => {
  t.is(buildServerConfig(userConfig, { id: 'i', host: 'h', logLevel: 'warn' })['logLevel'], 'warn');
  t.is(buildServerConfig(userConfig, { id: 'i', host: 'h' })['logLevel'], 'debug');
  t.is(buildServerConfig(parseDrasiConfig({}), { id: 'i', host: 'h' })['logLevel'], 'info');
});

test('without a port setting the user port is kept', (t) => {
  t.is(buildServerConfig(userConfig, { id: 'i', host: 'h' })['port'], 8080);
});

test('the user config is not modified and shares nothing with the document', (t) => {
  const before = structuredClone(userConfig);
  const document = buildServerConfig(userConfig, { id: 'i', host: 'h', port: 1 });
  t.deepEqual(userConfig, before);
  t.not(document['sources'], userConfig.sources);
});

test('invalid server settings are refused', (t) => {
  t.throws(() => buildServerConfig(userConfig, { id: 'i', host: 'h', port: 0 }), { instanceOf: InvalidConfigError });
  t.throws(() => buildServerConfig(userConfig, { id: 'i', host: 'h', logLevel: 'loud' }), { instanceOf: InvalidConfigError });
});

test('the rendered server document parses back to the same document', (t) => {
  const document = buildServerConfig(userConfig, { id: 'analytics-prod', host: '127.0.0.1', port: 18081 });
  t.deepEqual(parseDrasiConfigYaml(renderServerConfigYaml(document)), document);
});
