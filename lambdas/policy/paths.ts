/**
 * File paths as the policy engines compare them: one profile per desktop OS.
 *
 * The enforcement point on the desktop sends the RESOLVED path (symlinks, junctions,
 * mount points and `..` already resolved by the OS, e.g. `realpath(3)` on Linux,
 * `GetFinalPathNameByHandleW` on Windows). What is left here is lexical, and
 * refuses rather than guesses: anything that could name a protected file by a
 * second spelling (case, trailing dots, look-alike characters, short names,
 * `/proc` magic links) is either folded onto the one spelling policies match or
 * refused with a PathError naming the field.
 *
 * Both profiles:
 * - refuse control characters, format characters (Unicode Cf: zero-width, bidi
 *   controls, BOM, soft hyphen), other default-ignorable code points (variation
 *   selectors, Hangul fillers), line/paragraph separators and lone surrogates;
 * - put the path in NFC, then fold compatibility look-alikes with NFKC (`ﬁ` → `fi`,
 *   `ｆ` → `f`, `𝐟` → `f`, `¹` → `1`) so `/ﬁnance/x` is matched as `/finance/x`.
 *   A character whose NFKC form contains a character with meaning in a path
 *   (`/ \ . : ~ * ? < > | "` or space: `／`, `．`, `：`, `…`, no-break space) is
 *   kept as it is: folding it would invent separators, dot segments, streams or
 *   short names that the real name does not have. Folding only ever makes two
 *   names compare equal, so it can add denies, never remove one.
 *
 * `linux`: case-sensitive; `/` separates; `..` is resolved segment by segment and
 * every resolved prefix is checked, so `/proc/<pid>/{root,cwd,fd,exe,map_files}`,
 * `/proc/<pid>/task/<tid>/…` likewise, `/proc/self/…`, `/proc/thread-self/…`,
 * `/dev/fd/…` and `/dev/std{in,out,err}` are refused before a later `..` could fold
 * them away (`/proc/1/cwd/../../finance/x` is refused, not read as `/proc/finance/x`).
 *
 * `windows`: `\` and `/` both separate; the path must be fully qualified on a drive
 * (`C:\…`, or `\\?\C:\…` as GetFinalPathNameByHandleW returns it) and is matched on
 * the path WITHIN the drive, case-folded: a root `/finance` protects `X:\finance` on
 * every drive. Trailing dots and spaces of every component are stripped as Win32
 * does (`finance.` and `finance ` are `finance`). Refused: UNC paths
 * (`\\server\share\…`, `\\?\UNC\…`; a share's root can be any folder of any
 * machine, this one included, so no path within it can be matched safely), the
 * device namespace (`\\.\…`, and `\\?\` paths other than `\\?\X:\…`), drive-relative
 * (`C:x`) and rooted-without-drive (`\x`) paths, alternate data streams (any `:`
 * after the drive: `x.txt:s`, `x::$DATA`, `dir::$INDEX_ALLOCATION`), 8.3 short
 * names (a component containing `~` and a digit, e.g. `FINAN~1`), DOS device names
 * (`CON`, `NUL`, `COM1`, `LPT1.txt`, …), the characters Win32 forbids in names
 * (`< > " | ? *`), components of only dots and spaces, and `.`/`..` inside a
 * `\\?\` path (Win32 does not resolve them there).
 */
import { ValidationError } from '../shared/errors.ts';

export const PATH_PROFILES = ['linux', 'windows'] as const;
export type PathProfile = (typeof PATH_PROFILES)[number];

export const MAX_PATH = 4096;

/** A path its profile refuses. Still a `ValidationError` by name: callers and Step Functions treat it as one. */
export class PathError extends ValidationError {
  override name = 'ValidationError' as const;
}

export interface NormalizedPath {
  /**
   * What policies compare: absolute, `/`-separated, resolved, NFC with look-alikes
   * folded; for `windows` the path within its drive, case-folded.
   */
  path: string;
  /** `windows` only: the drive, lower-cased (`c:`). */
  volume?: string;
}

type Fail = (message: string) => never;

const failer =
  (field: string): Fail =>
  (message) => {
    throw new PathError(`invalid ${field}: ${message}`, [{ path: field, message }]);
  };

// Invisible or layout-changing characters: a name containing one is refused, never stripped.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}]/u;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// ASCII characters with a meaning in some profile's paths; a fold must never introduce one.
const PATH_SYNTAX = /[/\\.:~*?<>|" ]/;

function checkCharacters(input: string, fail: Fail): void {
  if (input.length === 0) fail('path is empty');
  if (input.length > MAX_PATH) fail(`path longer than ${MAX_PATH}`);
  if (input.includes('\0')) fail('path contains a NUL byte');
  if (PRINTABLE_ASCII.test(input)) return;
  if (!input.isWellFormed()) fail('path contains a lone surrogate (not valid Unicode)');
  const bad = INVISIBLE.exec(input);
  if (bad) {
    const cp = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    fail(`path contains U+${cp}, a control, format or invisible character`);
  }
}

const keepsItsForm = (ch: string): boolean => ch > '\x7f' && PATH_SYNTAX.test(ch.normalize('NFKC'));

/**
 * NFKC, except for characters whose NFKC form carries path syntax (see the module
 * comment). Expects NFC input; the result is stable under a second call.
 */
export function foldCompatibility(s: string): string {
  if (PRINTABLE_ASCII.test(s)) return s;
  let out = '';
  let run = '';
  for (const ch of s) {
    if (keepsItsForm(ch)) {
      out += run.normalize('NFKC') + ch;
      run = '';
    } else {
      run += ch;
    }
  }
  return out + run.normalize('NFKC');
}

/** Case folding for case-insensitive comparison; lower(upper(lower)) makes `ẞ`, `ß` and `ss` one form. */
const foldCase = (s: string): string => s.toLowerCase().toUpperCase().toLowerCase();

function finish(segs: readonly string[], fail: Fail): string {
  const out = `/${segs.join('/')}`;
  if (out.length > MAX_PATH) fail(`path longer than ${MAX_PATH} once normalized`);
  return out;
}

// ---------------------------------------------------------------- linux

const PROC_LINKS = new Set(['root', 'cwd', 'fd', 'exe', 'map_files']);
const DEV_LINKS = new Set(['fd', 'stdin', 'stdout', 'stderr']);

/** Is this resolved prefix a magic link (or under one) that jumps to another process's view of the tree? */
function procMagic(s: readonly string[]): boolean {
  if (s[0] === 'dev') return s.length >= 2 && DEV_LINKS.has(s[1]!);
  if (s[0] !== 'proc' || s.length < 2) return false;
  if (s[1] === 'self' || s[1] === 'thread-self') return true;
  if (s.length >= 3 && PROC_LINKS.has(s[2]!)) return true;
  return s[2] === 'task' && s.length >= 5 && PROC_LINKS.has(s[4]!);
}

/** The `linux` profile (see the module comment). */
export function normalizeLinuxPath(input: string, field = 'resource.path'): string {
  const fail = failer(field);
  checkCharacters(input, fail);
  if (!input.startsWith('/')) fail('path must be absolute');
  const ascii = PRINTABLE_ASCII.test(input);
  const segs: string[] = [];
  for (const raw of (ascii ? input : input.normalize('NFC')).split('/')) {
    if (raw === '' || raw === '.') continue;
    if (raw === '..') {
      if (segs.length === 0) fail('path escapes above the root');
      segs.pop();
      continue;
    }
    segs.push(ascii ? raw : foldCompatibility(raw));
    // Checked on every prefix as it grows, before any later `..` can pop the link away.
    if (procMagic(segs)) fail(`/${segs.join('/')} is a magic link to another view of the file system (/proc, /dev/fd)`);
  }
  return finish(segs, fail);
}

// ---------------------------------------------------------------- windows

const WIN_FORBIDDEN = /[<>"|?*]/;
const SHORT_NAME = /~\d/;
const DOS_DEVICE = /^(con|prn|aux|nul|com\d|lpt\d|conin\$|conout\$|clock\$)$/;
const SEP = /[\\/]/;

/** Splits off the drive; everything that does not start `X:\` or `\\?\X:\` is refused. */
function windowsRoot(s: string, fail: Fail): { volume: string; rest: string; literal: boolean } {
  if (SEP.test(s[0] ?? '') && SEP.test(s[1] ?? '')) {
    const dev = /^[\\/]{2}([?.])(?:[\\/]|$)/.exec(s);
    if (!dev) fail('UNC paths (\\\\server\\share\\…) are refused: a share can be rooted anywhere');
    if (dev![1] === '.') fail('device namespace paths (\\\\.\\…) are refused');
    const d = /^([A-Za-z]):[\\/]/.exec(s.slice(4));
    if (d) return { volume: `${d[1]!.toLowerCase()}:`, rest: s.slice(7), literal: true };
    if (/^unc(?:[\\/]|$)/i.test(s.slice(4)))
      fail('UNC paths (\\\\?\\UNC\\…) are refused: a share can be rooted anywhere');
    fail('only \\\\?\\X:\\… is accepted in the \\\\?\\ namespace (no volume GUIDs, GLOBALROOT or devices)');
  }
  const d = /^([A-Za-z]):/.exec(s);
  if (d) {
    if (!SEP.test(s[2] ?? '')) fail('drive-relative path (X:name): the path must be absolute');
    return { volume: `${d[1]!.toLowerCase()}:`, rest: s.slice(3), literal: false };
  }
  if (SEP.test(s[0] ?? '')) fail('path must be absolute and name its drive (X:\\…)');
  return fail('path must be absolute (X:\\…)');
}

/** One component as policies compare it, or a refusal. */
function windowsComponent(raw: string, fail: Fail): string {
  // Case mapping can decompose (`ẗ` upper-cases to T + U+0308), hence NFC again after it.
  const folded = PRINTABLE_ASCII.test(raw) ? raw.toLowerCase() : foldCase(foldCompatibility(raw)).normalize('NFC');
  const name = folded.replace(/[. ]+$/, '');
  if (name === '') fail(`component ${JSON.stringify(raw)} is only dots and spaces`);
  if (name.includes(':')) fail(`component ${JSON.stringify(raw)} names an alternate data stream (":")`);
  if (WIN_FORBIDDEN.test(name)) fail(`component ${JSON.stringify(raw)} has a character Win32 forbids (< > " | ? *)`);
  if (SHORT_NAME.test(name)) fail(`component ${JSON.stringify(raw)} looks like an 8.3 short name (~digit)`);
  if (DOS_DEVICE.test(name.split('.')[0]!.replace(/ +$/, '')))
    fail(`component ${JSON.stringify(raw)} is a DOS device name`);
  return name;
}

/** The `windows` profile (see the module comment). */
export function normalizeWindowsPath(input: string, field = 'resource.path'): { volume: string; path: string } {
  const fail = failer(field);
  checkCharacters(input, fail);
  const { volume, rest, literal } = windowsRoot(PRINTABLE_ASCII.test(input) ? input : input.normalize('NFC'), fail);
  const segs: string[] = [];
  for (const raw of rest.split(SEP)) {
    if (raw === '') continue;
    if (raw === '.' || raw === '..') {
      if (literal) fail(`"${raw}" in a \\\\?\\ path: Win32 does not resolve it there`);
      if (raw === '.') continue;
      if (segs.length === 0) fail('path escapes above the root');
      segs.pop();
      continue;
    }
    segs.push(windowsComponent(raw, fail));
  }
  return { volume, path: finish(segs, fail) };
}

// ---------------------------------------------------------------- both

/** Normalizes `input` under `profile`; throws PathError naming `field`. */
export function normalizePath(input: string, profile: PathProfile, field = 'resource.path'): NormalizedPath {
  return profile === 'windows' ? normalizeWindowsPath(input, field) : { path: normalizeLinuxPath(input, field) };
}

/** The normalized path as one string (for audit and labels); normalizing it again under its profile is a no-op. */
export const pathLabel = (p: NormalizedPath): string => (p.volume ? `${p.volume}${p.path}` : p.path);
