/**
 * Finds every regular expression in TypeScript source: regex literals and `RegExp(...)`/`new RegExp(...)` calls,
 * by walking the compiler's syntax tree (a text grep would miss or misread some). Test helper.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export interface RegexSite {
  /** Path relative to the scanned root's parent (e.g. `src/sip/responder/message.ts`). */
  file: string;
  line: number;
  /** Pattern and flags; null for a constructor whose pattern is not a constant. */
  source: string | null;
  flags: string;
  /** The constructor call's text when the pattern is built at run time. */
  dynamic: string | null;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function constantText(e: ts.Expression | undefined): string | null {
  if (e === undefined) return '';
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
  return null;
}

/** Every regex site in one source text. */
export function regexSitesOf(file: string, text: string): RegexSite[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: RegexSite[] = [];
  const visit = (n: ts.Node): void => {
    const line = (): number => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
    if (n.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const lit = (n as ts.RegularExpressionLiteral).text;
      const slash = lit.lastIndexOf('/');
      out.push({ file, line: line(), source: lit.slice(1, slash), flags: lit.slice(slash + 1), dynamic: null });
    } else if ((ts.isNewExpression(n) || ts.isCallExpression(n)) && n.expression.getText(sf) === 'RegExp') {
      const args = n.arguments ?? ts.factory.createNodeArray();
      const src = constantText(args[0]);
      const flags = constantText(args[1]);
      if (src !== null && flags !== null) out.push({ file, line: line(), source: src, flags, dynamic: null });
      else out.push({ file, line: line(), source: null, flags: '', dynamic: n.getText(sf) });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Every regex site under `root` (a source folder), file paths relative to root's parent. */
export function regexInventory(root: string): RegexSite[] {
  const base = join(root, '..');
  return walk(root).sort().flatMap((f) => regexSitesOf(relative(base, f), readFileSync(f, 'utf8')));
}
