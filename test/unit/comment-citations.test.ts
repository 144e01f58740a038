import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * Comments and test names cite only what is in the repository: the README and docs/ (a section
 * by its heading), or public standards (an RFC). Not the starting brief, style rules numbered
 * elsewhere, or issue numbers: a reader of the tree has none of those.
 */
const ROOT = join(import.meta.dirname, "../..");
const SCANNED = ["src", "test", "bench"];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.(ts|mts|lua)$/.test(name) ? [path] : [];
  });
}

interface Text {
  /** `path:line` of the comment or test name. */
  readonly where: string;
  readonly text: string;
}

function lineOf(source: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}

/** Every comment of a TypeScript file, from the parser's tokens (so strings and regexes are not mistaken for comments). */
function tsComments(path: string, source: string): Text[] {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true);
  const seen = new Map<number, Text>();
  const collect = (ranges: readonly ts.CommentRange[] | undefined) => {
    for (const range of ranges ?? []) {
      if (seen.has(range.pos)) continue;
      const where = `${relative(ROOT, path)}:${lineOf(source, range.pos)}`;
      seen.set(range.pos, { where, text: source.slice(range.pos, range.end) });
    }
  };
  const visit = (node: ts.Node): void => {
    collect(ts.getLeadingCommentRanges(source, node.getFullStart()));
    collect(ts.getTrailingCommentRanges(source, node.getEnd()));
    for (const child of node.getChildren(file)) visit(child);
  };
  visit(file);
  return [...seen.values()];
}

/** The identifier a call chain starts from: `it`, `describe.each(...)`, `it.skipIf(x)` all name their root. */
function rootName(expression: ts.Expression): string | undefined {
  if (ts.isIdentifier(expression)) return expression.text;
  if (ts.isPropertyAccessExpression(expression)) return rootName(expression.expression);
  if (ts.isCallExpression(expression)) return rootName(expression.expression);
  return undefined;
}

/** The first argument of every `describe`, `it` and `test` call: the names a test run prints. */
function testNames(path: string, source: string): Text[] {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true);
  const names: Text[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ["describe", "it", "test"].includes(rootName(node.expression) ?? "")) {
      const first = node.arguments[0];
      if (first !== undefined && (ts.isStringLiteralLike(first) || ts.isTemplateExpression(first))) {
        const where = `${relative(ROOT, path)}:${lineOf(source, first.getStart(file))}`;
        names.push({ where, text: first.getText(file) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return names;
}

/** Lua comments: `--[[ … ]]` blocks and `-- …` to the end of the line. */
function luaComments(path: string, source: string): Text[] {
  return [...source.matchAll(/--\[\[[\s\S]*?\]\]|--[^\n]*/g)].map((m) => ({
    where: `${relative(ROOT, path)}:${lineOf(source, m.index)}`,
    text: m[0],
  }));
}

/** One line of prose: a comment's line breaks and their `*`, `//` or `--` become single spaces. */
function flatten(text: string): string {
  return text.replace(/\s*\n\s*(?:\*(?!\/)|\/\/|--)?\s*/g, " ");
}

const TEXTS: Text[] = SCANNED.flatMap((dir) => files(join(ROOT, dir)))
  .flatMap((path) => {
    const source = readFileSync(path, "utf8");
    if (path.endsWith(".lua")) return luaComments(path, source);
    return [...tsComments(path, source), ...testNames(path, source)];
  })
  .map((t) => ({ where: t.where, text: flatten(t.text) }));

/** The match and a little around it, for the failure message. */
function excerpt(text: string, at: number, length: number): string {
  return text.slice(Math.max(0, at - 30), at + length + 30);
}

/** What a comment may not cite, each with why. */
const FORBIDDEN: readonly (readonly [string, RegExp])[] = [
  ["the starting brief (DESIGN)", /\bDESIGN\b/],
  ["a numbered style rule", /\bstyle rules? ?(§ ?)?\d/i],
  ["an issue number", /\bissues? ?#?\d/i],
  // A section sign is fine after an RFC (a public standard), nowhere else.
  ["a numbered section outside the repository", /§/],
];

function withoutRfcSections(text: string): string {
  return text.replace(/\bRFC ?\d+,? ?§ ?[\d.]*\d/g, "RFC");
}

/** Headings of a Markdown file, without their `#`s and backticks. */
function headings(file: string): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => line.replace(/^#+ /, "").replace(/`/g, ""));
}

describe("comment citations", () => {
  it("reads the comments and test names of src/, test/ and bench/", () => {
    expect(TEXTS.length).toBeGreaterThan(1000);
    expect(TEXTS.some((t) => t.where.endsWith(".lua:1"))).toBe(true);
    expect(TEXTS.some((t) => t.text.startsWith('"comment citations"'))).toBe(true);
  });

  it("cites no document, rule or issue from outside the repository", () => {
    const bad = TEXTS.flatMap((t) => {
      const text = withoutRfcSections(t.text);
      return FORBIDDEN.flatMap(([what, pattern]) => {
        const m = pattern.exec(text);
        return m === null ? [] : [`${t.where}: ${what}: …${excerpt(text, m.index, m[0].length)}…`];
      });
    });
    expect(bad).toEqual([]);
  });

  it("names only docs/ files that exist", () => {
    const bad = TEXTS.flatMap((t) =>
      [...t.text.matchAll(/\bdocs\/([\w.-]+\.md)\b/g)]
        .filter((m) => !existsSync(join(ROOT, "docs", m[1]!)))
        .map((m) => `${t.where}: docs/${m[1]}`),
    );
    expect(bad).toEqual([]);
  });

  // A pointer such as (README, "Rules") or (docs/audit-log.md, "Seals") names the start of a heading.
  it("names only sections that exist when it points at one", () => {
    const cited = /\b(README|docs\/[\w.-]+\.md)(?:'s)?,? \(?"([^"]+)"/g;
    const bad = TEXTS.flatMap((t) =>
      [...t.text.matchAll(cited)]
        .filter(([, doc, section]) => {
          const file = join(ROOT, doc === "README" ? "README.md" : doc!);
          return !existsSync(file) || !headings(file).some((h) => h.startsWith(section!));
        })
        .map(([match]) => `${t.where}: ${match}`),
    );
    expect(bad).toEqual([]);
  });
});
