/**
 * `aidops` as the program a person runs (`node cli/aidops.ts …`, the Node running the tests): the streams and
 * exit codes a shell sees, for a representative set of the conventions test/cli/conventions.test.ts checks
 * in-process for every command.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runCliProcess } from '../helpers/cli.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
const STACK_LINE = /^\s+at /m;

describe('aidops as a process', () => {
  it('--help: the usage on stdout, exit 0', async () => {
    const r = await runCliProcess(['--help']);
    assert.deepEqual([r.code, r.err], [0, '']);
    assert.match(r.out, /^usage: aidops <group> <command>/);
    assert.match(r.out, /^ {2}audit /m);
  });

  it('--version: the version in package.json, exit 0', async () => {
    assert.deepEqual(await runCliProcess(['--version']), { code: 0, out: `aidops ${VERSION}\n`, err: '' });
  });

  it('no arguments: the usage on stderr, exit 2', async () => {
    const r = await runCliProcess([]);
    assert.deepEqual([r.code, r.out], [2, '']);
    assert.match(r.err, /^usage: aidops <group> <command>/);
  });

  it('audit verify --help (and -h): its usage on stdout, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCliProcess(['audit', 'verify', flag]);
      assert.deepEqual([r.code, r.err], [0, ''], flag);
      assert.match(r.out, /^usage: aidops audit verify --bucket NAME/, flag);
      assert.match(r.out, /^ {2}--endpoint URL /m, flag);
      assert.match(r.out, /^exit: 0 intact, 1 findings, 2 usage or connection error$/m, flag);
    }
  });

  it('a malformed --endpoint: one line and a hint on stderr, exit 2, no stack', async () => {
    const r = await runCliProcess(['audit', 'verify', '--bucket', 'b', '--key-id', 'k', '--endpoint', 'not a url']);
    assert.deepEqual([r.code, r.out], [2, '']);
    assert.equal(
      r.err,
      'aidops audit verify: --endpoint must be an http(s) URL, got "not a url"\n' +
        'run `aidops audit verify --help` for usage\n',
    );
  });

  it('an unknown group: one line and a hint on stderr, exit 2', async () => {
    const r = await runCliProcess(['frobnicate', 'now']);
    assert.deepEqual(r, {
      code: 2,
      out: '',
      err: 'aidops: unknown group "frobnicate"\nrun `aidops --help` for usage\n',
    });
  });

  it('--debug: the stack on stderr after the line', async () => {
    const r = await runCliProcess(['--debug', 'session', 'list', '--no-such-option']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^aidops session list: unknown option '--no-such-option'\n/);
    assert.match(r.err, STACK_LINE);
    const quiet = await runCliProcess(['session', 'list', '--no-such-option']);
    assert.doesNotMatch(quiet.err, STACK_LINE);
  });
});
