import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { Document, YAMLError, YAMLMap } from "yaml";
import type { RuleIssue } from "./rules-errors.js";

/**
 * A thin, line-aware reader over the YAML AST. The rules walker uses it instead of `toJS()` so that
 * every issue can name its YAML path and line, and so that scalars can be read the way the
 * reference server's yaml.v2 reads them (see `readString`).
 */
export interface YamlContext {
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly issues: RuleIssue[];
  /** Things that load but deserve a look (keys that have no effect). */
  readonly warnings: RuleIssue[];
  /** Refuse what would only be warned about (`config validate --strict`). */
  readonly strict: boolean;
}

/** One `name: value` entry of a mapping. `line` is the line of the key. */
export interface Field {
  readonly name: string;
  readonly node: unknown;
  readonly path: string;
  readonly line: number | undefined;
}

/** Where an issue is reported: a YAML path and, when known, a line. */
export interface Where {
  readonly path: string;
  readonly line: number | undefined;
}

export interface MapSpec extends Where {
  readonly allowed: ReadonlySet<string>;
  /**
   * Called with a field whose name is not allowed here; returns true when it dealt with the field
   * (a key to be ignored), false to have it reported as unknown.
   */
  readonly ignore?: (field: Field) => boolean;
}

export interface IntRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Parses one document. YAML 1.1 matches the reference server's yaml.v2 (`yes`/`on` booleans,
 * `1_000` and `0755` integers, `<<` merge keys). Returns `syntaxOk: false` when the text is not
 * well-formed YAML; duplicate keys alone still let the walker run and report everything else.
 */
export function parseYaml(
  file: string,
  text: string,
  options: { strict: boolean },
): { ctx: YamlContext; syntaxOk: boolean } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { version: "1.1", uniqueKeys: true, lineCounter: lines });
  const ctx: YamlContext = { file, doc, lines, issues: [], warnings: [], strict: options.strict };
  let syntaxOk = true;
  for (const error of doc.errors) {
    const duplicate = error.code === "DUPLICATE_KEY";
    syntaxOk &&= duplicate;
    const path = duplicate ? pathAt(doc.contents, error.pos[0], "") : "";
    ctx.issues.push({ file, path, line: error.linePos?.[0].line, message: yamlMessage(error, path) });
  }
  return { ctx, syntaxOk: syntaxOk && aliasesResolve(ctx) };
}

/** The parser accepts `*name` with no `&name` anchor; the walker would read it as null. */
function aliasesResolve(ctx: YamlContext): boolean {
  let ok = true;
  visit(ctx.doc, {
    Alias(_key, alias) {
      if (alias.resolve(ctx.doc) !== undefined) return;
      ok = false;
      const offset = alias.range?.[0] ?? 0;
      const where = { path: pathAt(ctx.doc.contents, offset, ""), line: lineOf(ctx, alias) };
      report(ctx, where, `YAML alias '*${alias.source}' refers to no anchor`);
    },
  });
  return ok;
}

function yamlMessage(error: YAMLError, path: string): string {
  if (error.code === "DUPLICATE_KEY") {
    const name = path.slice(path.lastIndexOf(".") + 1);
    return `duplicate key '${name}' (a key may appear only once in a mapping)`;
  }
  if (error.code === "MULTIPLE_DOCS") {
    return "a rules file holds exactly one YAML document (one domain per file)";
  }
  const first = error.message.split(" at line ")[0] ?? error.message;
  return `YAML syntax error: ${first}`;
}

/** The YAML path of the node at `offset` (used to place the parser's duplicate-key errors). */
function pathAt(node: unknown, offset: number, path: string): string {
  if (isMap(node)) {
    for (const pair of node.items) {
      const child = joinPath(path, isScalar(pair.key) ? String(pair.key.value) : "?");
      if (contains(pair.key, offset)) return child;
      if (contains(pair.value, offset)) return pathAt(pair.value, offset, child);
    }
  } else if (isSeq(node)) {
    const index = node.items.findIndex((item) => contains(item, offset));
    if (index >= 0) return pathAt(node.items[index], offset, `${path}[${index}]`);
  }
  return path;
}

function contains(node: unknown, offset: number): boolean {
  const range = isNode(node) ? node.range : undefined;
  return range != null && range[0] <= offset && offset < range[2];
}

export function joinPath(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

export function report(ctx: YamlContext, where: Where, message: string): void {
  ctx.issues.push({ file: ctx.file, path: where.path, line: where.line, message });
}

export function warn(ctx: YamlContext, where: Where, message: string): void {
  ctx.warnings.push({ file: ctx.file, path: where.path, line: where.line, message });
}

export function lineOf(ctx: YamlContext, node: unknown): number | undefined {
  const range = isNode(node) ? node.range : undefined;
  return range == null ? undefined : ctx.lines.linePos(range[0]).line;
}

export function deref(ctx: YamlContext, node: unknown): unknown {
  return isAlias(node) ? node.resolve(ctx.doc) : node;
}

export function isNull(ctx: YamlContext, raw: unknown): boolean {
  const node = deref(ctx, raw);
  return node == null || (isScalar(node) && node.value == null);
}

/** Where a field's value sits (its own line when it has one, else the key's line). */
export function valueWhere(ctx: YamlContext, field: Field): Where {
  return { path: field.path, line: lineOf(ctx, deref(ctx, field.node)) ?? field.line };
}

/** Reads a mapping, reporting non-string keys and unknown fields. Explicit keys beat merged ones. */
export function readMap(ctx: YamlContext, raw: unknown, spec: MapSpec): Map<string, Field> | undefined {
  const node = deref(ctx, raw);
  if (!isMap(node)) {
    report(ctx, spec, `must be a mapping, got ${describe(node)}`);
    return undefined;
  }
  const fields = new Map<string, Field>();
  for (const pair of mapPairs(ctx, node, spec)) {
    const key = deref(ctx, pair.key);
    const line = lineOf(ctx, key);
    if (!isScalar(key) || typeof key.value !== "string") {
      report(ctx, { path: spec.path, line }, `mapping key must be a string, got ${describe(key)}`);
      continue;
    }
    const field: Field = { name: key.value, node: pair.value, path: joinPath(spec.path, key.value), line };
    if (spec.allowed.has(key.value)) {
      if (!fields.has(key.value)) fields.set(key.value, field);
    } else if (spec.ignore?.(field) !== true) {
      report(ctx, field, `unknown field '${key.value}'; allowed: ${[...spec.allowed].join(", ")}`);
    }
  }
  return fields;
}

type AnyPair = YAMLMap<unknown, unknown>["items"][number];

/** The map's own pairs, then the pairs brought in by `<<` merge keys (YAML 1.1, as yaml.v2 does). */
function mapPairs(ctx: YamlContext, map: YAMLMap<unknown, unknown>, where: Where): AnyPair[] {
  const own: AnyPair[] = [];
  const merged: AnyPair[] = [];
  for (const pair of map.items) {
    if (!isScalar(pair.key) || typeof pair.key.value !== "symbol") {
      own.push(pair);
      continue;
    }
    const source = deref(ctx, pair.value);
    const sources = isSeq(source) ? source.items.map((item) => deref(ctx, item)) : [source];
    for (const item of sources) {
      if (isMap(item)) merged.push(...mapPairs(ctx, item, where));
      else report(ctx, { path: where.path, line: lineOf(ctx, pair.key) }, "a << merge needs a mapping");
    }
  }
  return [...own, ...merged];
}

/** One item of a list with its path and line. */
export interface ListItem {
  readonly node: unknown;
  readonly path: string;
  readonly line: number | undefined;
}

/** Reads a list; null means an empty list, as yaml.v2 decodes it. */
export function readList(ctx: YamlContext, field: Field): ListItem[] | undefined {
  const node = deref(ctx, field.node);
  if (isNull(ctx, node)) return [];
  if (!isSeq(node)) {
    report(ctx, valueWhere(ctx, field), `must be a list, got ${describe(node)}`);
    return undefined;
  }
  return node.items.map((item, index) => ({
    node: item,
    path: `${field.path}[${index}]`,
    line: lineOf(ctx, deref(ctx, item)) ?? field.line,
  }));
}

/**
 * Reads a string field. Like yaml.v2 decoding into a Go string, an integer, boolean or timestamp
 * scalar is taken as its source text (`value: 429` is "429", `value: 0755` is "0755"); a float or
 * a collection is an error, as in the reference server. Null reads as "" (Go's zero value).
 * Returns undefined only after reporting an issue.
 */
export function readString(ctx: YamlContext, field: Field): string | undefined {
  const node = deref(ctx, field.node);
  if (isNull(ctx, node)) return "";
  if (isScalar(node)) {
    const value = node.value;
    if (typeof value === "string") return value;
    const textual = typeof value === "boolean" || value instanceof Date || isIntegerScalar(node);
    if (textual) return node.source ?? String(value);
  }
  report(ctx, valueWhere(ctx, field), `must be a string, got ${describe(node)}`);
  return undefined;
}

/** Reads a boolean field (YAML 1.1 spellings). Null reads as false. Undefined after an issue. */
export function readBool(ctx: YamlContext, field: Field): boolean | undefined {
  const node = deref(ctx, field.node);
  if (isNull(ctx, node)) return false;
  if (isScalar(node) && typeof node.value === "boolean") return node.value;
  report(ctx, valueWhere(ctx, field), `must be a boolean (true or false), got ${describe(node)}`);
  return undefined;
}

/** Reads an integer within `range`. Null reads as undefined with no issue (the caller decides). */
export function readInt(ctx: YamlContext, field: Field, range: IntRange): number | undefined {
  const node = deref(ctx, field.node);
  if (isNull(ctx, node)) return undefined;
  const where = valueWhere(ctx, field);
  if (!isScalar(node) || !isIntegerScalar(node)) {
    report(ctx, where, `must be an integer, got ${describe(node)}`);
    return undefined;
  }
  const value = Number(node.value);
  if (value < range.min || value > range.max) {
    report(ctx, where, `must be an integer from ${range.min} to ${range.max}, got ${node.source ?? value}`);
    return undefined;
  }
  return value;
}

// yaml.v2's integer forms; `1.0`, `1e3` and sexagesimal `1:30` are not integers to it.
const INTEGER_SOURCE = /^[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$/;

function isIntegerScalar(node: { value: unknown; source?: string }): boolean {
  const numeric = typeof node.value === "number" || typeof node.value === "bigint";
  return numeric && INTEGER_SOURCE.test(node.source ?? String(node.value));
}

export function isMapping(ctx: YamlContext, raw: unknown): boolean {
  return isMap(deref(ctx, raw));
}

export function isList(ctx: YamlContext, raw: unknown): boolean {
  return isSeq(deref(ctx, raw));
}

/** A number yaml.v2 reads as a float (`1.5`, `1e3`, `.inf`), not as an integer. */
export function isFloat(ctx: YamlContext, raw: unknown): boolean {
  const node = deref(ctx, raw);
  return isScalar(node) && typeof node.value === "number" && !isIntegerScalar(node);
}

/** A short description of a node for messages: `a list`, `a float (1.5)`, `a string ("x")`. */
export function describe(node: unknown): string {
  if (node == null) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isAlias(node)) return "an alias";
  if (!isScalar(node)) return "an unknown node";
  const value = node.value;
  const text = node.source ?? String(value);
  if (value == null) return "null";
  if (typeof value === "string") return `a string (${JSON.stringify(value)})`;
  if (typeof value === "boolean") return `a boolean (${text})`;
  if (typeof value === "number" || typeof value === "bigint") {
    return isIntegerScalar(node) ? `an integer (${text})` : `a float (${text})`;
  }
  return `a ${typeof value} (${text})`;
}
