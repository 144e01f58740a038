/**
 * Just enough PromQL reading to list the metric names and label matchers an expression uses. It is
 * not a parser: it removes what cannot be a metric name (strings, numbers and durations, range
 * brackets, grouping clauses, function calls, keywords, Grafana variables) and keeps the rest.
 */
const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "inf",
  "nan",
]);

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;

function strip(expr: string): string {
  return (
    expr
      // Grafana variables: $__rate_interval, ${instance}, $instance
      .replace(/\$\{[^}]*\}|\$\w+/g, " ")
      .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
      .replace(/\[[^\]]*\]/g, " ")
      .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
      .replace(/#[^\n]*/g, " ")
  );
}

/** Metric names in `expr`, in order of first use. */
export function metricNames(expr: string): string[] {
  const text = strip(expr).replace(/\{[^}]*\}/g, " ");
  const names: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/[0-9.]/.test(ch)) {
      // A number or a duration (0.99, 1e3, 5m): never a name, whatever letters follow.
      i += /^[0-9.]+(?:e[+-]?[0-9]+)?[a-z]*/i.exec(text.slice(i))![0].length;
      continue;
    }
    IDENT.lastIndex = i;
    const match = IDENT.exec(text);
    if (match === null) {
      i += 1;
      continue;
    }
    i += match[0].length;
    const isCall = /^\s*\(/.test(text.slice(i));
    if (!isCall && !KEYWORDS.has(match[0].toLowerCase()) && !names.includes(match[0])) names.push(match[0]);
  }
  return names;
}

export interface Matcher {
  readonly label: string;
  readonly op: string;
  readonly value: string;
}

export interface Selector {
  readonly metric: string;
  readonly matchers: readonly Matcher[];
}

/** `metric{label="x", other=~"y"}` selectors, with their label matchers. */
export function selectors(expr: string): Selector[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)].map((m) => ({
    metric: m[1]!,
    matchers: [...m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      (l) => ({
        label: l[1]!,
        op: l[2]!,
        value: l[3]!,
      }),
    ),
  }));
}

/** What a Prometheus text exposition declares: every `# TYPE` line, and the labels seen on samples. */
export interface Exposition {
  /** Family name to type (counter, gauge, histogram, summary, untyped). */
  readonly families: ReadonlyMap<string, string>;
  /** Series name (e.g. `x_bucket`) to its family. */
  readonly series: ReadonlyMap<string, string>;
  /** Family name to label name to the values seen on its samples (empty when it has none yet). */
  readonly labels: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;
}

const SUFFIXES: Record<string, readonly string[]> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["", "_sum", "_count"],
};

export function parseExposition(text: string): Exposition {
  const families = new Map<string, string>();
  const series = new Map<string, string>();
  const labels = new Map<string, Map<string, Set<string>>>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) {
      const [, family, kind] = type as unknown as [string, string, string];
      families.set(family, kind);
      labels.set(family, new Map());
      for (const suffix of SUFFIXES[kind] ?? [""]) series.set(family + suffix, family);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (sample === null || line.startsWith("#")) continue;
    const family = series.get(sample[1]!);
    if (family === undefined) continue;
    const seen = labels.get(family)!;
    for (const label of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const values = seen.get(label[1]!) ?? new Set<string>();
      values.add(label[2]!);
      seen.set(label[1]!, values);
    }
  }
  return { families, series, labels };
}

/** Labels Prometheus itself attaches to every scraped sample (and Prometheus Operator adds). */
const TARGET_LABELS = new Set([
  "__name__",
  "instance",
  "job",
  "namespace",
  "pod",
  "service",
  "container",
  "endpoint",
]);

/**
 * Problems with the metrics an expression uses: a name the server does not export; a matcher on a
 * label that the metric's samples do not carry; an exact (`=`) matcher on a value the samples never
 * showed. Labels are checked only for metrics that have samples: a labelled counter with no
 * observation yet shows only its HELP and TYPE lines, so the test makes traffic first.
 */
export function unknownReferences(expr: string, exposition: Exposition): string[] {
  const problems = metricNames(expr)
    .filter((name) => !exposition.series.has(name))
    .map((name) => `unknown metric ${name}`);
  for (const { metric, matchers } of selectors(expr)) {
    const family = exposition.series.get(metric);
    const seen = family === undefined ? undefined : exposition.labels.get(family);
    if (seen === undefined || seen.size === 0) continue;
    for (const { label, op, value } of matchers) {
      if (TARGET_LABELS.has(label) || (label === "le" && metric.endsWith("_bucket"))) continue;
      const values = seen.get(label);
      if (values === undefined) problems.push(`${metric} has no label ${label}`);
      else if (op === "=" && !value.includes("$") && !values.has(value)) {
        problems.push(`${metric}{${label}="${value}"}: the server only showed ${[...values].join(", ")}`);
      }
    }
  }
  return problems;
}
