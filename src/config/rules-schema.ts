import { isWildcardPattern } from "../domain/wildcard.js";
import { parseUnit, UNITS } from "../domain/units.js";
import type { Unit } from "../domain/units.js";
import { ignoreReferenceKeys } from "./rules-ignored.js";
import { UINT32_MAX } from "../domain/rules.js";
import type { Field, ListItem, Where, YamlContext } from "./rules-yaml.js";
import {
  describe,
  isMapping,
  isNull,
  joinPath,
  readBool,
  readInt,
  readList,
  readMap,
  readString,
  report,
  valueWhere,
} from "./rules-yaml.js";

/**
 * Validates one rules document (the reference server's format plus Floodgate's `burst`) and
 * returns it as plain data. It reports every issue it finds and keeps going, so the result may be
 * partial; the caller builds a RuleSet only when no issue was reported.
 */
export interface RawRule {
  readonly name: string | undefined;
  readonly unit: Unit | undefined;
  readonly requestsPerUnit: number;
  readonly burst: number | undefined;
  readonly unlimited: boolean;
  readonly replaces: readonly string[];
}

export interface RawDescriptor {
  /** Where the node is in its file (for the duplicate message when files are merged). */
  readonly where: Where;
  readonly key: string;
  /** undefined for a key-only node (an empty `value` is key-only too, as in the reference). */
  readonly value: string | undefined;
  readonly rateLimit: RawRule | undefined;
  readonly shadowMode: boolean;
  readonly shareThreshold: boolean;
  readonly children: readonly RawDescriptor[];
}

export interface RawDomain {
  readonly domain: string;
  /** The line of the `domain` field, for the duplicate-domain message. */
  readonly line: number | undefined;
  readonly descriptors: readonly RawDescriptor[];
}

const ROOT_FIELDS = new Set(["domain", "descriptors"]);
const NODE_FIELDS = new Set([
  "key",
  "value",
  "rate_limit",
  "descriptors",
  "shadow_mode",
  "detailed_metric",
  "quota_mode",
  "value_to_metric",
  "share_threshold",
  "metadata",
]);
const LIMIT_FIELDS = new Set(["unit", "requests_per_unit", "unlimited", "name", "replaces", "burst"]);
const REPLACES_FIELDS = new Set(["name"]);
/** Accepted so that reference-server configs load unchanged; Floodgate does not act on them. */
const ACCEPTED_FLAGS = ["detailed_metric", "quota_mode", "value_to_metric"] as const;

const ROOT: Where = { path: "", line: 1 };

export function validateDocument(ctx: YamlContext): RawDomain | undefined {
  if (isNull(ctx, ctx.doc.contents)) {
    report(ctx, { path: "domain", line: 1 }, "required field is missing (the document is empty)");
    return undefined;
  }
  if (!isMapping(ctx, ctx.doc.contents)) {
    const got = describe(ctx.doc.contents);
    report(ctx, ROOT, `the top level must be a mapping with 'domain' and 'descriptors', got ${got}`);
    return undefined;
  }
  const ignore = ignoreReferenceKeys(ctx, "at the top level");
  const fields = readMap(ctx, ctx.doc.contents, { ...ROOT, allowed: ROOT_FIELDS, ignore });
  if (fields === undefined) return undefined;
  const domainField = fields.get("domain");
  const domain = domainField === undefined ? undefined : readString(ctx, domainField);
  if (domainField === undefined) {
    report(ctx, { path: "domain", line: 1 }, "required field is missing");
  } else if (domain === "") {
    report(ctx, valueWhere(ctx, domainField), "must not be empty");
  }
  const list = fields.get("descriptors");
  const descriptors =
    list === undefined ? [] : readDescriptors(ctx, { field: list, parentKey: domain ?? "" });
  return { domain: domain ?? "", line: domainField?.line, descriptors };
}

interface ListScope {
  readonly field: Field;
  /** The reference server's composite key of the parent (`domain.key_value...`), for messages. */
  readonly parentKey: string;
}

function readDescriptors(ctx: YamlContext, scope: ListScope): RawDescriptor[] {
  const items = readList(ctx, scope.field) ?? [];
  const seen = new Map<string, number | undefined>();
  const result: RawDescriptor[] = [];
  for (const item of items) {
    const descriptor = readDescriptor(ctx, { item, parentKey: scope.parentKey });
    if (descriptor === undefined) continue;
    const composite = compositeKey(scope.parentKey, descriptor);
    if (seen.has(composite)) {
      const first = seen.get(composite);
      const at = first === undefined ? "" : ` (first defined at line ${first})`;
      report(ctx, item, `duplicate descriptor composite key '${composite}'${at}`);
      continue;
    }
    seen.set(composite, item.line);
    result.push(descriptor);
  }
  return result;
}

/** The reference server's name of a node: `parent.key_value`, or `parent.key` for a key-only node. */
export function compositeKey(parentKey: string, descriptor: Pick<RawDescriptor, "key" | "value">): string {
  const own = descriptor.value === undefined ? descriptor.key : `${descriptor.key}_${descriptor.value}`;
  return `${parentKey}.${own}`;
}

interface ItemScope {
  readonly item: ListItem;
  readonly parentKey: string;
}

function readDescriptor(ctx: YamlContext, scope: ItemScope): RawDescriptor | undefined {
  const { item } = scope;
  const ignore = ignoreReferenceKeys(ctx, "on a descriptor");
  const fields = readMap(ctx, item.node, { ...item, allowed: NODE_FIELDS, ignore });
  if (fields === undefined) return undefined;
  const key = readKey(ctx, { fields, where: item });
  if (key === undefined) return undefined;
  const valueField = fields.get("value");
  const rawValue = valueField === undefined ? "" : readString(ctx, valueField);
  const value = rawValue === "" || rawValue === undefined ? undefined : rawValue;
  const flag = (name: string): boolean => {
    const field = fields.get(name);
    return field === undefined ? false : (readBool(ctx, field) ?? false);
  };
  for (const name of ACCEPTED_FLAGS) flag(name);
  const shareThreshold = flag("share_threshold");
  checkShareThreshold(ctx, { field: fields.get("share_threshold"), shareThreshold, value });
  checkMetadata(ctx, fields.get("metadata"));
  const composite = compositeKey(scope.parentKey, { key, value });
  const limitField = fields.get("rate_limit");
  const childField = fields.get("descriptors");
  return {
    where: { path: item.path, line: item.line },
    key,
    value,
    rateLimit: limitField === undefined ? undefined : readRateLimit(ctx, limitField),
    shadowMode: flag("shadow_mode"),
    shareThreshold,
    children:
      childField === undefined ? [] : readDescriptors(ctx, { field: childField, parentKey: composite }),
  };
}

function readKey(ctx: YamlContext, at: { fields: Map<string, Field>; where: Where }): string | undefined {
  const field = at.fields.get("key");
  if (field === undefined) {
    report(ctx, { path: joinPath(at.where.path, "key"), line: at.where.line }, "required field is missing");
    return undefined;
  }
  const key = readString(ctx, field);
  if (key === "") {
    report(ctx, valueWhere(ctx, field), "must not be empty");
    return undefined;
  }
  return key;
}

interface ShareCheck {
  readonly field: Field | undefined;
  readonly shareThreshold: boolean;
  readonly value: string | undefined;
}

function checkShareThreshold(ctx: YamlContext, check: ShareCheck): void {
  if (check.field === undefined || !check.shareThreshold) return;
  if (check.value === undefined || !isWildcardPattern(check.value)) {
    report(ctx, valueWhere(ctx, check.field), "share_threshold needs a wildcard ('*') in value");
  }
}

function checkMetadata(ctx: YamlContext, field: Field | undefined): void {
  if (field === undefined || isNull(ctx, field.node) || isMapping(ctx, field.node)) return;
  report(ctx, valueWhere(ctx, field), `must be a mapping, got ${describe(field.node)}`);
}

/** `rate_limit:` with nothing after it decodes to no limit in the reference server (a nil pointer). */
function readRateLimit(ctx: YamlContext, field: Field): RawRule | undefined {
  if (isNull(ctx, field.node)) return undefined;
  const ignore = ignoreReferenceKeys(ctx, "inside rate_limit");
  const where = { path: field.path, line: field.line };
  const fields = readMap(ctx, field.node, { ...where, allowed: LIMIT_FIELDS, ignore });
  if (fields === undefined) return undefined;
  const get = (name: string): Field | undefined => fields.get(name);
  const unlimitedField = get("unlimited");
  const unlimited = unlimitedField === undefined ? false : (readBool(ctx, unlimitedField) ?? false);
  const limitScope: LimitScope = { fields, where, unlimited };
  const name = readOptionalString(ctx, get("name"));
  return {
    name,
    unit: readUnit(ctx, limitScope),
    requestsPerUnit: readRequests(ctx, limitScope),
    burst: readBurst(ctx, limitScope),
    unlimited,
    replaces: readReplaces(ctx, { field: get("replaces"), ownName: name }),
  };
}

interface LimitScope {
  readonly fields: Map<string, Field>;
  readonly where: Where;
  readonly unlimited: boolean;
}

function readOptionalString(ctx: YamlContext, field: Field | undefined): string | undefined {
  const text = field === undefined ? undefined : readString(ctx, field);
  return text === "" ? undefined : text;
}

function readUnit(ctx: YamlContext, scope: LimitScope): Unit | undefined {
  const field = scope.fields.get("unit");
  const text = field === undefined ? "" : readString(ctx, field);
  if (text === undefined || field === undefined || scope.unlimited) {
    if (scope.unlimited && field !== undefined && text !== "") {
      report(ctx, valueWhere(ctx, field), "must not be set when unlimited is true");
    } else if (field === undefined && !scope.unlimited) {
      reportMissingUnit(ctx, scope.where);
    }
    return undefined;
  }
  if (text === "") {
    reportMissingUnit(ctx, valueWhere(ctx, field));
    return undefined;
  }
  const unit = parseUnit(text);
  if (unit === undefined) {
    report(ctx, valueWhere(ctx, field), `invalid unit '${text}' (expected one of ${UNITS.join(", ")})`);
  }
  return unit;
}

function reportMissingUnit(ctx: YamlContext, where: Where): void {
  const path = where.path.endsWith(".unit") ? where.path : joinPath(where.path, "unit");
  report(ctx, { path, line: where.line }, `required field is missing (one of ${UNITS.join(", ")})`);
}

function readRequests(ctx: YamlContext, scope: LimitScope): number {
  const field = scope.fields.get("requests_per_unit");
  const value = field === undefined ? undefined : readInt(ctx, field, { min: 0, max: UINT32_MAX });
  const missing = field === undefined || isNull(ctx, field.node);
  if (missing && !scope.unlimited) {
    const where = { path: joinPath(scope.where.path, "requests_per_unit"), line: scope.where.line };
    report(
      ctx,
      where,
      "required field is missing (unless unlimited is true): the reference server would read it as 0 and deny every request; write 'requests_per_unit: 0' if that is the intent",
    );
  }
  return value ?? 0;
}

function readBurst(ctx: YamlContext, scope: LimitScope): number | undefined {
  const field = scope.fields.get("burst");
  if (field === undefined || isNull(ctx, field.node)) return undefined;
  if (scope.unlimited) {
    report(ctx, valueWhere(ctx, field), "must not be set when unlimited is true");
    return undefined;
  }
  return readInt(ctx, field, { min: 1, max: UINT32_MAX });
}

function readReplaces(
  ctx: YamlContext,
  at: { field: Field | undefined; ownName: string | undefined },
): string[] {
  if (at.field === undefined) return [];
  const names: string[] = [];
  const ignore = ignoreReferenceKeys(ctx, "in a replaces entry");
  for (const item of readList(ctx, at.field) ?? []) {
    const fields = readMap(ctx, item.node, { ...item, allowed: REPLACES_FIELDS, ignore });
    const field = fields?.get("name");
    if (fields !== undefined && field === undefined) {
      report(ctx, { path: joinPath(item.path, "name"), line: item.line }, "required field is missing");
    }
    const name = field === undefined ? undefined : readString(ctx, field);
    if (field === undefined || name === undefined) continue;
    if (name === "") {
      report(ctx, valueWhere(ctx, field), "must not be empty (name the limit this one replaces)");
    } else if (name === at.ownName) {
      report(ctx, valueWhere(ctx, field), `a limit must not replace itself ('${name}')`);
    } else {
      names.push(name);
    }
  }
  return names;
}
