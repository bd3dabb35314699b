import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import {
  foldCompatibility,
  MAX_PATH,
  type NormalizedPath,
  normalizeLinuxPath,
  normalizePath,
  normalizeWindowsPath,
  PATH_PROFILES,
  PathError,
  type PathProfile,
  pathLabel,
} from '../../../lambdas/policy/paths.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';

/** The refusal's message, after checking it is a PathError named ValidationError that names the field. */
function refusal(fn: () => unknown, field = 'resource.path'): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PathError, `expected PathError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.ok(e instanceof ValidationError);
    assert.equal(e.name, 'ValidationError');
    assert.deepEqual(
      e.issues.map((i) => i.path),
      [field],
    );
    return e.message;
  }
  assert.fail('expected a PathError');
}

describe('linux profile', () => {
  const folds: [string, string][] = [
    ['/ﬁnance/x', '/finance/x'],
    ['/ｆinance/x', '/finance/x'],
    ['/ＦＩＮＡＮＣＥ/x', '/FINANCE/x'],
    ['/𝐟𝐢𝐧𝐚𝐧𝐜𝐞/x', '/finance/x'],
    ['/ſecrets/k', '/secrets/k'],
    ['/ⓗⓡ/x', '/hr/x'],
    ['/hr/cafe\u0301.txt', '/hr/caf\u00e9.txt'],
    ['/home/a/資料１.xlsx', '/home/a/資料1.xlsx'],
    ['/home/a/x²', '/home/a/x2'],
    // Characters whose NFKC form carries path syntax keep their form: no invented separators or dot segments.
    ['/finance\uff0fx', '/finance\uff0fx'],
    ['/home/\uff0e\uff0e/finance', '/home/\uff0e\uff0e/finance'],
    ['/a/\u2025/b', '/a/\u2025/b'],
    ['/a/\u2024/b', '/a/\u2024/b'],
    ['/a/\u2100', '/a/\u2100'],
    ['/finance\u00a0/x', '/finance\u00a0/x'],
    // Case-sensitive; trailing dots and spaces are part of a Linux name.
    ['/Finance/x', '/Finance/x'],
    ['/finance./x', '/finance./x'],
    ['/finance /x', '/finance /x'],
    ['/financial-report.txt', '/financial-report.txt'],
    // /proc entries that are not magic links stay readable.
    ['/proc/cpuinfo', '/proc/cpuinfo'],
    ['/proc/1/status', '/proc/1/status'],
    ['/proc/1/task/2/status', '/proc/1/task/2/status'],
    ['/proc/1/cwd-notes', '/proc/1/cwd-notes'],
    ['/home/proc/self/root/x', '/home/proc/self/root/x'],
    ['/dev/null', '/dev/null'],
  ];
  for (const [input, want] of folds) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => assert.equal(normalizeLinuxPath(input), want));
  }

  const refused: [string, RegExp][] = [
    ['/fin\u200bance/x', /U\+200B/],
    ['/fin\u200cance/x', /U\+200C/],
    ['/fin\u200dance/x', /U\+200D/],
    ['/\u2060finance/x', /U\+2060/],
    ['/\ufefffinance/x', /U\+FEFF/],
    ['/\u202efinance/x', /U\+202E/],
    ['/\u2066finance\u2069/x', /U\+2066/],
    ['/\u200efinance/x', /U\+200E/],
    ['/fi\u00adnance/x', /U\+00AD/],
    ['/finance\ufe0f/x', /U\+FE0F/],
    ['/finance\u3164/x', /U\+3164/],
    ['/finance\u{e0061}/x', /U\+E0061/],
    ['/finance\u0007/x', /U\+0007/],
    ['/finance\n/x', /U\+000A/],
    ['/finance\u007f/x', /U\+007F/],
    ['/finance\u0085/x', /U\+0085/],
    ['/finance\u2028/x', /U\+2028/],
    ['/finance\ud800/x', /lone surrogate/],
    ['/finance\udc00/x', /lone surrogate/],
    ['/a\0b', /NUL/],
    ['/proc/self/root/finance/x', /\/proc\/self is a magic link/],
    ['/proc/self', /magic link/],
    ['/proc/thread-self/root/finance/x', /magic link/],
    ['/proc/1/cwd/../../finance/x', /\/proc\/1\/cwd is a magic link/],
    ['/proc/1/root/finance/x', /\/proc\/1\/root/],
    ['/proc/1/root', /\/proc\/1\/root/],
    ['/proc/1/fd/3', /\/proc\/1\/fd/],
    ['/proc/1/exe', /\/proc\/1\/exe/],
    ['/proc/1/map_files/x', /map_files/],
    ['/proc/1/task/2/root/finance/x', /\/proc\/1\/task\/2\/root/],
    ['/proc/1/task/2/cwd/../../../finance', /\/proc\/1\/task\/2\/cwd/],
    ['//proc//1//cwd//x', /\/proc\/1\/cwd/],
    ['/proc/./1/./root/x', /\/proc\/1\/root/],
    ['/home/../proc/1/root/finance/x', /\/proc\/1\/root/],
    ['/proc/x/../1/cwd/..', /\/proc\/1\/cwd/],
    ['/ｐroc/self/root/x', /magic link/],
    ['/dev/fd/3/finance/x', /\/dev\/fd/],
    ['/dev/stdout', /\/dev\/stdout/],
    ['', /empty/],
    ['finance/x', /absolute/],
    ['/../finance/x', /escapes/],
    [`/${'a'.repeat(MAX_PATH)}`, /longer than/],
    // NFKC can lengthen a path (U+3300 is 4 characters folded); the result is bounded too.
    [`/${'\u3300'.repeat(1100)}`, /once normalized/],
  ];
  for (const [input, msg] of refused) {
    it(`refuses ${JSON.stringify(input.slice(0, 60))}`, () =>
      assert.match(
        refusal(() => normalizeLinuxPath(input)),
        msg,
      ));
  }

  it('names the field it was given', () => {
    assert.match(
      refusal(() => normalizeLinuxPath('/proc/self/cwd', 'paths[3]'), 'paths[3]'),
      /^invalid paths\[3\]:/,
    );
  });
});

describe('windows profile', () => {
  const cases: [string, NormalizedPath][] = [
    ['C:\\finance\\q3.xlsx', { volume: 'c:', path: '/finance/q3.xlsx' }],
    ['C:\\Finance\\Q3.xlsx', { volume: 'c:', path: '/finance/q3.xlsx' }],
    ['c:/FINANCE/Q3.XLSX', { volume: 'c:', path: '/finance/q3.xlsx' }],
    ['D:\\finance\\x', { volume: 'd:', path: '/finance/x' }],
    ['C:\\finance.\\x', { volume: 'c:', path: '/finance/x' }],
    ['C:\\finance \\x', { volume: 'c:', path: '/finance/x' }],
    ['C:\\finance. . .\\x', { volume: 'c:', path: '/finance/x' }],
    ['C:\\finance\\x.', { volume: 'c:', path: '/finance/x' }],
    ['C:\\finance\\report.final.docx', { volume: 'c:', path: '/finance/report.final.docx' }],
    ['C:\\ leading space\\x', { volume: 'c:', path: '/ leading space/x' }],
    ['C:\\Users\\a\\..\\..\\Finance\\x', { volume: 'c:', path: '/finance/x' }],
    ['C:\\.\\finance\\.\\x', { volume: 'c:', path: '/finance/x' }],
    ['C:/finance\\\\reports//', { volume: 'c:', path: '/finance/reports' }],
    ['C:\\', { volume: 'c:', path: '/' }],
    ['C:/', { volume: 'c:', path: '/' }],
    ['C:\\ﬁnance\\x', { volume: 'c:', path: '/finance/x' }],
    ['C:\\ＦＩＮＡＮＣＥ\\x', { volume: 'c:', path: '/finance/x' }],
    ['C:\\ſecrets\\k', { volume: 'c:', path: '/secrets/k' }],
    ['C:\\Stra\u1e9ee', { volume: 'c:', path: '/strasse' }],
    ['C:\\Straße', { volume: 'c:', path: '/strasse' }],
    ['C:\\\u212aey', { volume: 'c:', path: '/key' }],
    ['C:\\Caf\u0065\u0301', { volume: 'c:', path: '/caf\u00e9' }],
    ['\\\\?\\C:\\Finance\\x', { volume: 'c:', path: '/finance/x' }],
    ['//?/c:/Finance/x', { volume: 'c:', path: '/finance/x' }],
    ['C:\\Users\\a\\doc.txt', { volume: 'c:', path: '/users/a/doc.txt' }],
    ['C:\\financial-report.txt', { volume: 'c:', path: '/financial-report.txt' }],
    ['C:\\Users\\a\\なぜ？.docx', { volume: 'c:', path: '/users/a/なぜ？.docx' }],
    ['C:\\Users\\a\\会議：議事録.docx', { volume: 'c:', path: '/users/a/会議：議事録.docx' }],
    ['C:\\Users\\a\\FINAN～1', { volume: 'c:', path: '/users/a/finan～1' }],
    ['C:\\Users\\a\\console.log', { volume: 'c:', path: '/users/a/console.log' }],
    ['C:\\Users\\a\\~$doc.docx', { volume: 'c:', path: '/users/a/~$doc.docx' }],
    ['C:\\Users\\a\\x\uff0e', { volume: 'c:', path: '/users/a/x\uff0e' }],
    ['C:\\Users\\a\\\uff0a', { volume: 'c:', path: '/users/a/\uff0a' }],
    ['C:\\Users\\\u2025', { volume: 'c:', path: '/users/\u2025' }],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${pathLabel(want)}`, () => assert.deepEqual(normalizeWindowsPath(input), want));
  }

  const refused: [string, RegExp][] = [
    ['\\\\fileserver\\finance\\q3.xlsx', /UNC/],
    ['//fileserver/finance/q3.xlsx', /UNC/],
    ['\\\\localhost\\C$\\finance\\x', /UNC/],
    ['\\\\?\\UNC\\fileserver\\finance\\x', /UNC/],
    ['\\\\?\\unc/fileserver/finance/x', /UNC/],
    ['\\\\.\\C:\\finance\\x', /device namespace/],
    ['\\\\.\\PhysicalDrive0', /device namespace/],
    ['//./pipe/x', /device namespace/],
    ['\\\\.', /device namespace/],
    ['\\\\?\\Volume{00000000-0000-0000-0000-000000000000}\\finance\\x', /only \\\\\?\\X:/],
    ['\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1\\finance\\x', /only \\\\\?\\X:/],
    ['\\\\?\\C:', /only \\\\\?\\X:/],
    ['\\\\?', /only \\\\\?\\X:/],
    ['\\??\\C:\\finance\\x', /name its drive/],
    ['C:finance\\x', /drive-relative/],
    ['C:', /drive-relative/],
    ['\\finance\\x', /name its drive/],
    ['/finance/x', /name its drive/],
    ['finance\\x', /absolute/],
    ['1:\\finance', /absolute/],
    ['C:\\..\\finance\\x', /escapes/],
    ['C:\\finance\\q3.xlsx:hidden', /alternate data stream/],
    ['C:\\Users\\a\\q3.xlsx::$DATA', /alternate data stream/],
    ['C:\\finance::$INDEX_ALLOCATION\\x', /alternate data stream/],
    ['C:\\FINANC~1\\q3.xlsx', /8\.3 short name/],
    ['C:\\PROGRA~1\\x', /8\.3 short name/],
    ['C:\\Users\\a\\DOCUME~12.TXT', /8\.3 short name/],
    ['C:\\Users\\a\\FINAN~\uff11', /8\.3 short name/],
    ['C:\\Users\\a\\con', /DOS device/],
    ['C:\\Users\\a\\CON.txt', /DOS device/],
    ['C:\\Users\\a\\nul .txt', /DOS device/],
    ['C:\\Users\\a\\COM1', /DOS device/],
    ['C:\\Users\\a\\lpt9.log', /DOS device/],
    ['C:\\Users\\a\\COM\u00b9', /DOS device/],
    ['C:\\Users\\a\\conout$', /DOS device/],
    ['C:\\Users\\a\\*.xlsx', /forbids/],
    ['C:\\Users\\a\\x?.txt', /forbids/],
    ['C:\\Users\\a\\<x>', /forbids/],
    ['C:\\Users\\a\\x|y', /forbids/],
    ['C:\\Users\\a\\"x"', /forbids/],
    ['C:\\...\\finance\\x', /only dots and spaces/],
    ['C:\\ \\finance\\x', /only dots and spaces/],
    ['C:\\.. \\finance', /only dots and spaces/],
    ['\\\\?\\C:\\Users\\..\\finance\\x', /Win32 does not resolve/],
    ['\\\\?\\C:\\.\\finance\\x', /Win32 does not resolve/],
    ['C:\\fin\u200bance\\x', /U\+200B/],
    ['C:\\finance\u0000\\x', /NUL/],
    ['C:\\finance\u001f\\x', /U\+001F/],
  ];
  for (const [input, msg] of refused) {
    it(`refuses ${JSON.stringify(input)}`, () =>
      assert.match(
        refusal(() => normalizeWindowsPath(input)),
        msg,
      ));
  }
});

describe('normalizePath', () => {
  it('dispatches on the profile; linux has no volume', () => {
    assert.deepEqual(normalizePath('/Finance/x', 'linux'), { path: '/Finance/x' });
    assert.deepEqual(normalizePath('C:\\Finance\\x', 'windows'), { volume: 'c:', path: '/finance/x' });
  });
  it('pathLabel keeps the drive and normalizes back to itself', () => {
    const p = normalizePath('C:\\Finance\\Q3.xlsx', 'windows');
    assert.equal(pathLabel(p), 'c:/finance/q3.xlsx');
    assert.deepEqual(normalizePath(pathLabel(p), 'windows'), p);
    assert.equal(pathLabel(normalizePath('/a/../b', 'linux')), '/b');
  });
  it('foldCompatibility folds letters and keeps path syntax look-alikes', () => {
    assert.equal(foldCompatibility('ﬁｎａｎｃｅ'), 'finance');
    assert.equal(foldCompatibility('a\uff0fb\uff0ec\uff1ad\uff5e1'), 'a\uff0fb\uff0ec\uff1ad\uff5e1');
    assert.equal(foldCompatibility('ｆ\uff0fｆ'), 'f\uff0ff');
  });
});

// ---------------------------------------------------------------- properties

const PIECES = [
  '/',
  '\\',
  '//',
  '\\\\',
  '.',
  '..',
  '...',
  ' ',
  ':',
  '?',
  '*',
  '~1',
  '$DATA',
  'C:',
  'c:\\',
  '\\\\?\\',
  '\\\\.\\',
  'UNC',
  'proc',
  'self',
  'thread-self',
  '1',
  'root',
  'cwd',
  'fd',
  'task',
  'dev',
  'finance',
  'Finance',
  'FINAN~1',
  'con',
  'ﬁ',
  'ｆ',
  'Ｆ',
  'ſ',
  'ẞ',
  'ß',
  'İ',
  '\u212a',
  'e\u0301',
  '\u0301',
  '\u0308',
  '\u00a8',
  '\u2024',
  '\u2025',
  '\u2026',
  '\uff0e',
  '\uff0f',
  '\uff3c',
  '\uff1a',
  '\uff5e',
  '\u00a0',
  '\u3000',
  '\u2100',
  '\ufdfa',
  '\u200b',
  '\u202e',
  '\ufeff',
  '\u0000',
  '\u0007',
  '\ud800',
  '資料',
  '１',
];
const hostile = fc.array(fc.constantFrom(...PIECES), { maxLength: 24 }).map((xs) => xs.join(''));
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  hostile,
  hostile.map((s) => `/${s}`),
  hostile.map((s) => `C:\\${s}`),
);

const attempt = (profile: PathProfile, s: string): NormalizedPath | undefined => {
  try {
    return normalizePath(s, profile);
  } catch (e) {
    // Nothing but the typed refusal, whatever the input.
    assert.ok(e instanceof PathError && e instanceof ValidationError, `${profile} ${JSON.stringify(s)}: ${e}`);
    return undefined;
  }
};

describe('properties (arbitrary strings)', () => {
  for (const profile of PATH_PROFILES) {
    it(`${profile}: throws only PathError, and normalizing the result again changes nothing`, () => {
      fc.assert(
        fc.property(anyString, (s) => {
          const once = attempt(profile, s);
          if (once === undefined) return;
          assert.deepEqual(normalizePath(pathLabel(once), profile), once, `${profile} ${JSON.stringify(s)}`);
          const p = once.path;
          assert.ok(p.startsWith('/') && !p.includes('//') && (p === '/' || !p.endsWith('/')), p);
          assert.ok(!p.split('/').some((seg) => seg === '.' || seg === '..'), p);
          assert.equal(p, p.normalize('NFC'));
          if (profile === 'windows') assert.equal(p, p.toLowerCase(), p);
        }),
        { numRuns: 20_000 },
      );
    });
  }

  it('windows: spellings that differ only in case, separators and trailing dots/spaces normalize alike', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
    fc.assert(
      fc.property(
        fc.array(name, { minLength: 1, maxLength: 6 }),
        fc.array(fc.boolean(), { maxLength: 24 }),
        (segs, flips) => {
          const plain = `C:\\${segs.join('\\')}`;
          const mangled = `c:/${segs
            .map((s, i) => (flips[i] ? `${s.toUpperCase()}. ` : s.toLowerCase()))
            .join(flips[0] ? '\\' : '/')}`;
          if (segs.some((s) => /~\d/.test(s) || /^(con|prn|aux|nul|com\d|lpt\d)$/i.test(s))) return;
          assert.deepEqual(normalizeWindowsPath(mangled), normalizeWindowsPath(plain));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('linux: no /proc magic link survives, whatever dot segments surround it', () => {
    const seg = fc.constantFrom('proc', 'self', '1', 'root', 'cwd', 'fd', 'task', '..', '.', '', 'finance', 'x');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 10 }), (segs) => {
        const out = attempt('linux', `/${segs.join('/')}`);
        if (out === undefined) return;
        // Replay the resolution: no prefix on the way may have been a magic link.
        const stack: string[] = [];
        for (const s of segs) {
          if (s === '' || s === '.') continue;
          if (s === '..') stack.pop();
          else stack.push(s);
          const [a, b, c, , e] = stack;
          const magic =
            a === 'proc' &&
            (b === 'self' ||
              ['root', 'cwd', 'fd'].includes(c ?? '') ||
              (c === 'task' && ['root', 'cwd', 'fd'].includes(e ?? '')));
          assert.ok(!magic, `accepted /${segs.join('/')} through /${stack.join('/')}`);
        }
      }),
      { numRuns: 5_000 },
    );
  });
});
