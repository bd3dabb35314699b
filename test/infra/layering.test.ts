/**
 * The project's layering, checked on the import statements of every .ts file
 * (parsed with the TypeScript compiler, type-only imports included):
 *  - lambdas/ (what runs in Lambda) imports nothing of lib/, workflows/, local/, cli/, bench/ or test/;
 *  - lib/ and workflows/ (what synthesizes) import nothing of local/, cli/ or test/;
 *  - no test imports the demo (local/demo*);
 *  - no import cycle between files.
 * Each failure names the offending edges (importer → imported) or cycles (a → b → … → a).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP_DIRS = new Set(['node_modules', 'cdk.out', 'test/fixtures']);

function sourceFiles(dir = ROOT, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const abs = join(dir, name);
    const rel = relative(ROOT, abs).split(sep).join('/');
    if (name.startsWith('.') || SKIP_DIRS.has(rel) || name.startsWith('cdk.out')) continue;
    if (statSync(abs).isDirectory()) sourceFiles(abs, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Module specifiers of every static import/export-from, import-equals and literal dynamic import. */
function specifiers(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) {
      if (ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      const e = n.moduleReference.expression;
      if (ts.isStringLiteral(e)) out.push(e.text);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      if (a && ts.isStringLiteralLike(a)) out.push(a.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

/** Project files each file imports (relative specifiers resolved; packages ignored). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles()) {
    const targets: string[] = [];
    for (const s of specifiers(file)) {
      if (!s.startsWith('.')) continue;
      const abs = resolve(ROOT, dirname(file), s);
      const candidates = [abs, `${abs}.ts`, join(abs, 'index.ts')];
      const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
      if (hit) targets.push(relative(ROOT, hit).split(sep).join('/'));
    }
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

const graph = importGraph();
const edges = [...graph].flatMap(([from, tos]) => tos.map((to) => ({ from, to })));
const under = (file: string, dirs: readonly string[]) => dirs.some((d) => file.startsWith(`${d}/`));

function offending(fromDirs: readonly string[], toDirs: readonly string[]): string[] {
  return edges.filter((e) => under(e.from, fromDirs) && under(e.to, toDirs)).map((e) => `${e.from} → ${e.to}`);
}

/** Every elementary cycle found by a depth-first search, each reported once (as found first). */
function cycles(): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') {
        const cycle = stack.slice(stack.indexOf(m));
        const key = [...cycle].sort().join('|');
        if (!seen.has(key)) {
          seen.add(key);
          found.push([...cycle, m]);
        }
      } else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return found;
}

describe('layering', () => {
  it('parses the imports of every source file', () => {
    assert.ok(graph.size > 100, `${graph.size} files`);
    assert.ok(graph.get('local/runtime.ts')?.length, 'local/runtime.ts has project imports');
  });

  it('lambdas/ imports nothing of lib/, workflows/, local/, cli/, bench/ or test/', () => {
    const bad = offending(['lambdas'], ['lib', 'workflows', 'local', 'cli', 'bench', 'test']);
    assert.deepEqual(bad, [], `lambdas/ must stand alone:\n  ${bad.join('\n  ')}`);
  });

  it('lib/ and workflows/ import nothing of local/, cli/ or test/', () => {
    const bad = offending(['lib', 'workflows'], ['local', 'cli', 'test']);
    assert.deepEqual(bad, [], `synthesis must not depend on local, CLI or test code:\n  ${bad.join('\n  ')}`);
  });

  it('no test imports the demo (local/demo*)', () => {
    const bad = edges
      .filter((e) => under(e.from, ['test']) && /^local\/demo[^/]*\.ts$/.test(e.to))
      .map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(bad, [], `tests take their fixtures from test/ or local/fixtures.ts:\n  ${bad.join('\n  ')}`);
  });

  it('no import cycle between files', () => {
    const found = cycles().map((c) => c.join(' → '));
    assert.deepEqual(found, [], `import cycles:\n  ${found.join('\n  ')}`);
  });
});
