// Reads the import graph of a source tree with the TypeScript parser (not by matching lines), so multi-line
// imports, `import type`, re-exports, dynamic `import('…')` with a literal, `import('…').T` type references and
// worker entry points written as `new URL('./x.js', import.meta.url)` are all edges.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** How a module refers to another. `type` edges vanish from the emitted JavaScript. */
export type EdgeKind = 'import' | 'export' | 'dynamic' | 'type' | 'worker-url';

/** One edge: `from` (a path relative to the tree's root, `/`-separated) refers to `to`. */
export interface ImportEdge {
  from: string;
  /** A path relative to the root for relative specifiers (may start with `../` when it leaves the tree), else the package name. */
  to: string;
  /** True when `to` is a package (bare specifier); `node:` built-ins are left out. */
  pkg: boolean;
  /** 1-based line of the specifier in `from`. */
  line: number;
  kind: EdgeKind;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** True when every binding an import declaration brings in is a type (`import type …`, `import { type A }`). */
function typeOnly(decl: ts.ImportDeclaration): boolean {
  const c = decl.importClause;
  if (!c) return false; // `import './x.js'`: run for its effects
  if (c.isTypeOnly) return true;
  if (c.name) return false;
  const b = c.namedBindings;
  return b !== undefined && ts.isNamedImports(b) && b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly);
}

/** The module specifiers of one file's text, with kind and line. */
export function specifiers(fileName: string, text: string): Array<{ spec: string; line: number; kind: EdgeKind }> {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Array<{ spec: string; line: number; kind: EdgeKind }> = [];
  const add = (lit: ts.Node | undefined, kind: EdgeKind): void => {
    if (lit && ts.isStringLiteralLike(lit)) {
      out.push({ spec: lit.text, line: sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1, kind });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node.moduleSpecifier, typeOnly(node) ? 'type' : 'import');
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node.moduleSpecifier, node.isTypeOnly ? 'type' : 'export');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly ? 'type' : 'import');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], 'dynamic');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, 'type');
    } else if (
      ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL' &&
      node.arguments?.length === 2 && node.arguments[1]!.getText(sf) === 'import.meta.url' &&
      ts.isStringLiteralLike(node.arguments[0]!) && /\.[cm]?[jt]s$/.test(node.arguments[0].text)
    ) {
      // A module loaded by URL (worker entry point); URLs of data files (package.json) are not edges.
      add(node.arguments[0], 'worker-url');
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Every edge of the `.ts` files under `root`. Relative specifiers are resolved (a `.js` specifier names the `.ts`
 * source, as NodeNext resolution writes it); package specifiers are kept by package name; `node:` ones dropped.
 */
export function importGraph(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of walk(root).sort()) {
    const from = relative(root, file).split(sep).join('/');
    for (const { spec, line, kind } of specifiers(file, readFileSync(file, 'utf8'))) {
      if (spec.startsWith('./') || spec.startsWith('../')) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        edges.push({ from, to: relative(root, target).split(sep).join('/'), pkg: false, line, kind });
      } else if (!spec.startsWith('node:')) {
        edges.push({ from, to: packageOf(spec), pkg: true, line, kind });
      }
    }
  }
  return edges;
}
