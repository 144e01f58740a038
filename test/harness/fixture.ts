/**
 * A fixture built once per test file: `create` runs in beforeAll, `dispose` in afterAll (only if
 * `create` succeeded). The returned object stands for the fixture: its properties read through to
 * the one `create` made, so a test file can hold it in a `const` at the top level.
 */
import { afterAll, beforeAll } from "vitest";

export function useFixture<T extends object>(
  create: () => Promise<T>,
  dispose: (fixture: T) => Promise<void>,
): T {
  let fixture: T | undefined;
  beforeAll(async () => {
    fixture = await create();
  });
  afterAll(async () => {
    if (fixture !== undefined) await dispose(fixture);
  });
  return new Proxy({} as T, {
    get: (_target, property) => {
      if (fixture === undefined)
        throw new Error(`fixture read (${String(property)}) before beforeAll made it`);
      return Reflect.get(fixture, property, fixture);
    },
  });
}
