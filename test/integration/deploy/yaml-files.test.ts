import { describe, expect, it } from "vitest";
import { filesUnder, isYamlFile, loadYaml, readText } from "./support/repo.js";

/** Every YAML and JSON file we ship for deployment parses, strictly (no duplicate keys). */
const FILES = [...filesUnder("deploy"), ...filesUnder("envoy")];
const YAML = FILES.filter(isYamlFile);
const JSON_FILES = FILES.filter((file) => file.endsWith(".json"));

describe("deployment files", () => {
  it("are found", () => {
    expect(YAML.length).toBeGreaterThan(15);
    expect(JSON_FILES.length).toBeGreaterThan(0);
  });

  it.each(YAML)("%s parses as YAML, without duplicate keys", (file) => {
    expect(loadYaml(file).length).toBeGreaterThan(0);
  });

  it.each(JSON_FILES)("%s parses as JSON", (file) => {
    expect(() => JSON.parse(readText(file)) as unknown).not.toThrow();
  });

  it("a syntax error or a duplicate key is an error, not a silent override", () => {
    expect(() => loadYaml("test/fixtures/rules/invalid/yaml-syntax.yaml")).toThrow(/yaml-syntax\.yaml/);
    expect(() => loadYaml("test/fixtures/rules/invalid/duplicate-yaml-key.yaml")).toThrow(
      /duplicate-yaml-key\.yaml/,
    );
  });
});
