/**
 * The command-line conventions, for every group and every command the CLI registers (found in its own registry,
 * so a new command is covered the day it is added): help on stdout with exit 0, one line on stderr and exit 2
 * for a bad argument, `--endpoint` checked the same way everywhere, `--version`, and stacks only with `--debug`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { groups, main } from '../../cli/aidops.ts';
import type { Command, CommandGroup } from '../../cli/args.ts';
import { freePort } from '../../local/emulator/moto.ts';
import { type CliResult, runCli } from '../helpers/cli.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const STACK_LINE = /^\s+at /m;

/** A bad argument: exit 2, nothing on stdout, one line naming the command and the problem, then the hint. */
function assertUsageError(r: CliResult, prefix: string, message: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit code (stderr: ${r.err})`);
  assert.equal(r.out, '', `${what}: nothing on stdout`);
  assert.doesNotMatch(r.err, STACK_LINE, `${what}: no stack trace`);
  const [line, hint, ...more] = lines(r.err);
  assert.deepEqual(more, [], `${what}: one line and a hint, got ${r.err}`);
  assert.ok(line?.startsWith(`${prefix}: `), `${what}: "${line}" starts with "${prefix}: "`);
  assert.match(line ?? '', message, what);
  assert.equal(hint, `run \`${prefix} --help\` for usage`, what);
}

const loaded = new Map<string, CommandGroup>();
const everyCommand = () =>
  [...loaded].flatMap(([group, commands]) =>
    Object.entries(commands).map(
      ([name, cmd]) => ({ group, name, cmd }) as { group: string; name: string; cmd: Command },
    ),
  );

before(async () => {
  for (const [name, entry] of Object.entries(groups)) loaded.set(name, await entry.load());
});

describe('aidops: the program', () => {
  it('--help, -h and help print the usage listing every group on stdout, exit 0', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, flag);
      assert.equal(r.err, '', flag);
      assert.match(r.out, /^usage: aidops <group> <command>/, flag);
      for (const group of Object.keys(groups))
        assert.match(r.out, new RegExp(`^  ${group} `, 'm'), `${flag}: ${group}`);
    }
  });

  it('no arguments: the usage on stderr, exit 2', async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.match(r.err, /^usage: aidops <group> <command>/);
  });

  it('--version and -V print the version in package.json', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.deepEqual([r.code, r.out, r.err], [0, `aidops ${VERSION}\n`, ''], flag);
    }
  });

  it('an unknown group or option is one line and a hint, exit 2', async () => {
    assertUsageError(await runCli(['frobnicate']), 'aidops', /unknown group "frobnicate"/, 'unknown group');
    assertUsageError(await runCli(['--frobnicate']), 'aidops', /unknown option '--frobnicate'/, 'unknown option');
  });
});

describe('aidops GROUP: every group', () => {
  it('has commands, each with a one-line summary, options of one line each, exit codes and an example', () => {
    assert.ok(loaded.size > 0);
    for (const { group, name, cmd } of everyCommand()) {
      const where = `${group} ${name}`;
      for (const text of [cmd.summary, cmd.synopsis, cmd.exit]) assert.doesNotMatch(text, /\n/, where);
      assert.ok(cmd.summary && cmd.exit, where);
      for (const [option, spec] of Object.entries(cmd.options)) {
        assert.ok(spec.help.trim(), `${where} --${option}: help`);
        assert.doesNotMatch(spec.help, /\n/, `${where} --${option}: one line`);
      }
      assert.ok(cmd.examples.length > 0, `${where}: an example`);
      for (const e of cmd.examples) assert.ok(e.startsWith(`aidops ${group} ${name}`), `${where}: example "${e}"`);
    }
  });

  it('GROUP --help / -h / help lists its commands on stdout, exit 0', async () => {
    for (const [group, commands] of loaded) {
      for (const flag of ['--help', '-h', 'help']) {
        const r = await runCli([group, flag]);
        assert.equal(r.code, 0, `${group} ${flag}`);
        assert.equal(r.err, '', `${group} ${flag}`);
        assert.match(r.out, new RegExp(`^usage: aidops ${group} <command>`), `${group} ${flag}`);
        for (const [name, cmd] of Object.entries(commands))
          assert.ok(r.out.includes(`  ${name}`) && r.out.includes(cmd.summary), `${group} ${flag}: lists ${name}`);
      }
    }
  });

  it('GROUP alone: its usage on stderr, exit 2; an unknown command is one line and a hint, exit 2', async () => {
    for (const group of loaded.keys()) {
      const bare = await runCli([group]);
      assert.equal(bare.code, 2, group);
      assert.equal(bare.out, '', group);
      assert.match(bare.err, new RegExp(`^usage: aidops ${group} <command>`), group);
      assertUsageError(
        await runCli([group, 'frobnicate']),
        `aidops ${group}`,
        /unknown command "frobnicate"/,
        `${group} frobnicate`,
      );
    }
  });
});

describe('aidops GROUP COMMAND: every command', () => {
  it('--help and -h print its usage on stdout (every option listed), exit 0, wherever they stand', async () => {
    for (const { group, name, cmd } of everyCommand()) {
      for (const argv of [
        [group, name, '--help'],
        [group, name, '-h'],
        [group, name, '--json', '--no-such-option', '-h'],
      ]) {
        const what = argv.join(' ');
        const r = await runCli(argv);
        assert.equal(r.code, 0, what);
        assert.equal(r.err, '', what);
        assert.ok(r.out.startsWith(`usage: aidops ${group} ${name} `), `${what}: ${r.out.slice(0, 80)}`);
        assert.ok(r.out.includes(cmd.summary), `${what}: summary`);
        for (const option of Object.keys(cmd.options))
          assert.match(r.out, new RegExp(`^  --${option}\\b`, 'm'), `${what}: --${option}`);
        assert.match(r.out, /^ {2}-h, --help /m, `${what}: --help`);
        assert.match(r.out, /^exit: 0 /m, `${what}: exit codes`);
        assert.match(r.out, /^examples?:\n {2}aidops /m, `${what}: example`);
      }
    }
  });

  it('an unknown option: one line naming it and a hint, exit 2', async () => {
    for (const { group, name } of everyCommand())
      assertUsageError(
        await runCli([group, name, '--no-such-option']),
        `aidops ${group} ${name}`,
        /unknown option '--no-such-option'$/,
        `${group} ${name} --no-such-option`,
      );
  });

  it('a missing value, a value given to a switch, a stray argument: one line and a hint, exit 2', async () => {
    for (const { group, name, cmd } of everyCommand()) {
      const prefix = `aidops ${group} ${name}`;
      const stringOption = Object.entries(cmd.options).find(([, o]) => o.type === 'string')?.[0];
      if (stringOption)
        assertUsageError(
          await runCli([group, name, `--${stringOption}`]),
          prefix,
          new RegExp(`option '--${stringOption}' needs a value`),
          `${prefix} --${stringOption}`,
        );
      const switchOption = Object.entries(cmd.options).find(([, o]) => o.type === 'boolean')?.[0];
      if (switchOption)
        assertUsageError(
          await runCli([group, name, `--${switchOption}=yes`]),
          prefix,
          new RegExp(`option '--${switchOption}' takes no value`),
          `${prefix} --${switchOption}=yes`,
        );
      if (cmd.positionals === undefined)
        assertUsageError(
          await runCli([group, name, 'stray']),
          prefix,
          /unexpected argument 'stray'/,
          `${prefix} stray`,
        );
    }
  });

  it('a malformed --endpoint (or AWS_ENDPOINT_URL) is one line and a hint, exit 2, before anything runs', async () => {
    let withEndpoint = 0;
    for (const { group, name, cmd } of everyCommand()) {
      const prefix = `aidops ${group} ${name}`;
      if (!('endpoint' in cmd.options)) {
        // Offline commands take no endpoint: naming one is an unknown option, reported the same way.
        assertUsageError(
          await runCli([group, name, '--endpoint', 'not a url']),
          prefix,
          /unknown option '--endpoint'/,
          `${prefix} --endpoint`,
        );
        continue;
      }
      withEndpoint++;
      for (const bad of ['not a url', 'ftp://127.0.0.1:21', 'http://', '127.0.0.1:4566', ''])
        assertUsageError(
          await runCli([group, name, '--endpoint', bad]),
          prefix,
          new RegExp(`--endpoint must be an http\\(s\\) URL, got "${bad.replace(/[.()/]/g, '\\$&')}"`),
          `${prefix} --endpoint '${bad}'`,
        );
      assertUsageError(
        await runCli([group, name], { AWS_ENDPOINT_URL: 'not a url' }),
        prefix,
        /AWS_ENDPOINT_URL must be an http\(s\) URL, got "not a url"/,
        `${prefix} with AWS_ENDPOINT_URL='not a url'`,
      );
    }
    assert.ok(withEndpoint >= 5, `commands with --endpoint: ${withEndpoint}`);
  });

  it('an endpoint nobody listens on: EndpointUnreachableError naming it and the network code, exit 2', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    for (const argv of [
      ['session', 'list'],
      ['flags', 'list'],
      ['plugin', 'list'],
      ['incident', 'status', 'restore-x'],
    ]) {
      const r = await runCli([...argv, '--endpoint', endpoint]);
      assert.equal(r.code, 2, argv.join(' '));
      assert.doesNotMatch(r.err, STACK_LINE);
      assert.deepEqual(
        lines(r.err),
        [`aidops ${argv[0]} ${argv[1]}: EndpointUnreachableError: cannot reach ${endpoint}: ECONNREFUSED`],
        argv.join(' '),
      );
    }
  });
});

describe('aidops --debug', () => {
  /** `policy validate` runs offline; an output that fails is an error no command expects. */
  async function brokenOutput(argv: string[]): Promise<{ code: number; err: string }> {
    let err = '';
    const code = await main(argv, {
      out: () => {
        throw new Error('output closed');
      },
      err: (s) => {
        err += `${s}\n`;
      },
      env: {},
    });
    return { code, err };
  }

  it('an unexpected error is one line, exit 2; with --debug, anywhere, its stack follows', async () => {
    const plain = await brokenOutput(['policy', 'validate']);
    assert.equal(plain.code, 2);
    assert.deepEqual(lines(plain.err), ['aidops policy validate: unexpected error: Error: output closed']);
    for (const argv of [
      ['--debug', 'policy', 'validate'],
      ['policy', '--debug', 'validate'],
      ['policy', 'validate', '--debug'],
    ]) {
      const debug = await brokenOutput(argv);
      assert.equal(debug.code, 2, argv.join(' '));
      const [first, ...stack] = lines(debug.err);
      assert.equal(first, 'aidops policy validate: unexpected error: Error: output closed', argv.join(' '));
      assert.equal(stack[0], 'Error: output closed', argv.join(' '));
      assert.match(stack.join('\n'), STACK_LINE, argv.join(' '));
    }
  });

  it('--debug adds the stack to a usage error too, and is no option of its own after `--`', async () => {
    const r = await runCli(['audit', 'verify', '--no-such-option', '--debug']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^aidops audit verify: unknown option '--no-such-option'\n/);
    assert.match(r.err, STACK_LINE);
    const after = await runCli(['flags', 'set', '--', '--debug']);
    assert.equal(after.code, 2);
    assert.doesNotMatch(after.err, STACK_LINE, 'after --, --debug is an argument');
  });
});
