/**
 * `draas machine`: the lifecycle machine on stdout as JSON (the default),
 * Mermaid or DOT — the same text GET /api/machines/instance serves — with no
 * control plane running; a bad format is a usage error.
 */
import test from 'ava';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, UsageError } from '../../src/cli-options.js';
import { instanceMachineDocument, instanceMachineText } from '../../src/machines/machine-document.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

test('parsing: json by default, --format picks one, anything else is a usage error', (t) => {
  t.deepEqual(parseCommandLine(['machine'], {}), { command: 'machine', format: 'json' });
  t.deepEqual(parseCommandLine(['machine', '--format', 'dot'], {}), { command: 'machine', format: 'dot' });
  t.deepEqual(parseCommandLine(['machine', '--format=mermaid'], {}), { command: 'machine', format: 'mermaid' });
  t.deepEqual(parseCommandLine(['machine', '--help'], {}), { command: 'help' });
  t.throws(() => parseCommandLine(['machine', '--format', 'svg'], {}), { instanceOf: UsageError, message: /--format must be one of json, mermaid, dot, got "svg"/ });
  t.throws(() => parseCommandLine(['machine', '--port', '1'], {}), { instanceOf: UsageError });
  t.throws(() => parseCommandLine(['machine', 'extra'], {}), { instanceOf: UsageError });
});

test('draas machine prints the document, pretty-printed; --format mermaid and dot print those', async (t) => {
  const json = await execa('node', ['--import=tsx', cli, 'machine'], { reject: false });
  t.is(json.exitCode, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(instanceMachineDocument())));
  t.regex(json.stdout, /^\{\n {2}"id": "instance",\n/);
  for (const format of ['mermaid', 'dot'] as const) {
    const result = await execa('node', ['--import=tsx', cli, 'machine', '--format', format], { reject: false, stripFinalNewline: false });
    t.is(result.exitCode, 0, result.stderr);
    t.is(result.stdout, instanceMachineText(format), format);
  }
});

test('draas machine with a bad format says so on stderr and exits non-zero', async (t) => {
  const bad = await execa('node', ['--import=tsx', cli, 'machine', '--format', 'png'], { reject: false });
  t.not(bad.exitCode, 0);
  t.is(bad.stdout, '');
  t.regex(bad.stderr, /--format must be one of json, mermaid, dot, got "png"/);
  t.regex(bad.stderr, /draas --help/);
});

test('the help names the machine command', async (t) => {
  const help = await execa('node', ['--import=tsx', cli, '--help'], { reject: false });
  t.regex(help.stdout, /^ {2}machine {9}Print the instance lifecycle machine/m);
  t.regex(help.stdout, /--format <f> {2}json/);
});
