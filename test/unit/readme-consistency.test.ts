import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = join(import.meta.dirname, "../..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The README's text from a heading to the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = README.indexOf(`${heading}\n`);
  const level = /^#+/.exec(heading)![0];
  const rest = README.slice(start + heading.length);
  const next = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return next < 0 ? rest : rest.slice(0, next);
}

describe("the README agrees with the repository", () => {
  it("lists every alert of deploy/prometheus/floodgate-alerts.yaml in its Alerts table, and no other", () => {
    const file = parse(readFileSync(join(ROOT, "deploy/prometheus/floodgate-alerts.yaml"), "utf8")) as {
      groups: { rules: { alert?: string }[] }[];
    };
    const shipped = file.groups.flatMap((g) =>
      g.rules.flatMap((r) => (r.alert === undefined ? [] : [r.alert])),
    );
    const listed = [...section("### Alerts").matchAll(/^\| `(Floodgate\w+)`/gm)].map((m) => m[1]);
    expect(shipped.length).toBeGreaterThan(5);
    expect([...listed].sort()).toEqual([...shipped].sort());
  });

  it("has the shell examples write files only where git ignores them (keys stay out of commits)", () => {
    const shell = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!).join("\n");
    const written = [...shell.matchAll(/(?:-out|(?<![-=])>)\s+([\w./-]+)/g)]
      .map((m) => m[1]!)
      .filter((path) => path !== "/dev/null" && !path.startsWith("&"));
    expect(written.length).toBeGreaterThan(2);
    const tracked = written.filter(
      (path) => spawnSync("git", ["check-ignore", "-q", path], { cwd: ROOT }).status !== 0,
    );
    expect(tracked).toEqual([]);
  });
});
