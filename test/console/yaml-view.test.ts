/**
 * The console's YAML emitter (a browser module, pure): what it writes reads
 * back, with the `yaml` package, as the very JSON value it was given —
 * strings that look like booleans, numbers or YAML syntax included.
 */
import test from 'ava';
import { parse } from 'yaml';
import { toYaml } from '../../src/http/ui/to-yaml.js';

const awkwardStrings = [
  '', ' ', 'true', 'False', 'yes', 'no', 'on', 'OFF', 'y', 'N', 'null', '~', '1', '-1', '0x1F', '0o17', '1e3', '.5', '1_000', '.inf', '.NaN',
  '- dash', '? query', ': colon', 'key: value', 'trailing:', 'a #comment', '#hash', '[list]', '{map}', '&anchor', '*alias', '!tag', '|block', '>fold',
  "'single'", '"double"', '%directive', '@at', '`tick`', 'line\nbreak', 'tab\there', 'trailing space ', ' leading space', 'ünïcödé', 'emoji 🚀', 'back\\slash',
  'plain words', 'http://host:8080/path', 'a,b', 'MATCH (n) RETURN n',
];

test('scalars and awkward strings read back as themselves', (t) => {
  for (const value of awkwardStrings) {
    t.deepEqual(parse(toYaml({ value })), { value }, JSON.stringify(value));
    t.deepEqual(parse(toYaml([value])), [value], JSON.stringify(value));
    t.deepEqual(parse(toYaml({ [value === '' ? 'empty' : value]: 1 })), { [value === '' ? 'empty' : value]: 1 }, `key ${JSON.stringify(value)}`);
  }
  for (const value of [0, -3.5, 1e21, true, false, null, 'x']) t.deepEqual(parse(toYaml(value)), value);
});

test('nested configurations read back equal, in block style', (t) => {
  const configuration = {
    id: 'a1',
    sources: [{ kind: 'mock', id: 'sensors', autoStart: true, dataType: { type: 'sensorReading' } }],
    queries: [{ id: 'hot', query: 'MATCH (s:Sensor) WHERE s.value > 30 RETURN s', sources: ['sensors'], joins: [] }],
    reactions: [],
    empty: {},
    matrix: [[1, 2], [], [[3]], [{ a: null }]],
    port: 8080,
  };
  const text = toYaml(configuration);
  t.deepEqual(parse(text), configuration);
  t.true(text.startsWith('id: a1\nsources:\n  - kind: mock\n    id: sensors\n'), text);
  t.regex(text, /^reactions: \[\]$/m);
  t.deepEqual(parse(toYaml([])), []);
  t.deepEqual(parse(toYaml({})), {});
});
