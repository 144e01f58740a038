import { afterEach, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/admin/auth/authenticator.js";
import type { AuthenticatorOptions } from "../../src/admin/auth/authenticator.js";
import type { JwksFetchFailure } from "../../src/admin/auth/jwks-url.js";
import {
  adminSettings,
  bearer,
  claims,
  expectAuthFailure,
  JwksServer,
  sign,
  useKeyFixture,
} from "./support/auth-fixtures.js";

// A JWKS URL that keeps failing is fetched with backoff, not on every admin call, and the last
// good keys serve for a bounded time (docs/admin-auth.md, "ADMIN_JWKS_URL: caching and outages").
// A real HTTP server, an injected clock.

const fx = useKeyFixture();
const EXPECTED = { sub: "alice" };

describe("JWKS URL outages", () => {
  let server: JwksServer;
  const clock = { ms: 0 };
  const failures: JwksFetchFailure[] = [];

  async function urlAuth(options: AuthenticatorOptions) {
    clock.ms = Date.now();
    failures.length = 0;
    server = new JwksServer();
    server.served = fx.keys.map((k) => k.jwk);
    const jwksUrl = await server.start();
    return createAuthenticator(adminSettings({ jwksUrl }), {
      now: () => clock.ms,
      onJwksFetchError: (failure) => failures.push(failure),
      ...options,
    });
  }

  afterEach(async () => {
    await server.stop();
  });

  const token = async (kid?: string) =>
    bearer(await sign(fx.keys[0]!, claims(), kid === undefined ? {} : { kid }));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("after the cache expired, refetches a failing URL once per backoff wait and keeps serving the last keys", async () => {
    const auth = await urlAuth({ cacheMaxAgeMs: 1, backoffMinMs: 1000, backoffMaxMs: 60_000 });
    const t = await token();
    await auth.authenticate(t, "read");
    expect(server.fetches).toBe(1);
    server.mode = "error";
    await sleep(5); // the 1 ms cache has expired on the real clock too (jose's own timer)
    clock.ms += 5;
    for (let i = 0; i < 5; i += 1)
      await expect(auth.authenticate(t, "read")).resolves.toMatchObject(EXPECTED);
    expect(server.fetches).toBe(2); // one failed refetch, then backing off
    clock.ms += 999;
    await auth.authenticate(t, "read");
    expect(server.fetches).toBe(2);
    clock.ms += 1;
    await auth.authenticate(t, "read");
    expect(server.fetches).toBe(3); // the wait doubles: 2 s now
    clock.ms += 1999;
    await auth.authenticate(t, "read");
    expect(server.fetches).toBe(3);
    clock.ms += 1;
    await auth.authenticate(t, "read");
    expect(server.fetches).toBe(4);
    expect(failures.map((f) => [f.failures, f.retryInMs])).toEqual([
      [1, 1000],
      [2, 2000],
      [3, 4000],
    ]);
    expect(failures[0]).toMatchObject({
      staleSetAgeMs: 5,
      reason: expect.stringMatching(/200 OK/) as unknown,
    });
  });

  it("with no keys yet, refuses as key_source without fetching while it backs off, up to the maximum wait", async () => {
    const auth = await urlAuth({ backoffMinMs: 1000, backoffMaxMs: 3000 });
    server.mode = "error";
    const t = await token();
    await expectAuthFailure(auth.authenticate(t, "read"), "key_source");
    for (let i = 0; i < 5; i += 1) await expectAuthFailure(auth.authenticate(t, "read"), "key_source");
    expect(server.fetches).toBe(1);
    for (const wait of [1000, 2000, 3000, 3000]) {
      clock.ms += wait - 1;
      await expectAuthFailure(auth.authenticate(t, "read"), "key_source");
      const before = server.fetches;
      clock.ms += 1;
      await expectAuthFailure(auth.authenticate(t, "read"), "key_source");
      expect(server.fetches).toBe(before + 1);
    }
    expect(failures.map((f) => f.retryInMs)).toEqual([1000, 2000, 3000, 3000, 3000]);
    expect(failures.every((f) => f.staleSetAgeMs === undefined)).toBe(true);
  });

  it("counts one failure for concurrent calls that share a failing fetch", async () => {
    const auth = await urlAuth({ backoffMinMs: 1000 });
    server.mode = "error";
    const t = await token();
    await Promise.all(
      Array.from({ length: 8 }, () => expectAuthFailure(auth.authenticate(t, "read"), "key_source")),
    );
    expect(server.fetches).toBe(1);
    expect(failures).toHaveLength(1);
  });

  it("stops using the last keys past the staleness bound, and recovers when the URL does", async () => {
    const auth = await urlAuth({
      cacheMaxAgeMs: 1000,
      maxStaleMs: 5000,
      backoffMinMs: 500,
      backoffMaxMs: 500,
    });
    const t = await token();
    await auth.authenticate(t, "read");
    const fetchedAt = clock.ms;
    server.mode = "error";
    clock.ms = fetchedAt + 5999; // cache age + staleness bound, less 1 ms
    await expect(auth.authenticate(t, "read")).resolves.toMatchObject(EXPECTED);
    clock.ms = fetchedAt + 6000;
    await expectAuthFailure(auth.authenticate(t, "read"), "key_source");
    server.mode = "ok";
    clock.ms += 500; // the backoff wait
    await expect(auth.authenticate(t, "read")).resolves.toMatchObject(EXPECTED);
    // Recovered: a later failure starts the backoff from the first wait again.
    server.mode = "error";
    clock.ms += 1000;
    await auth.authenticate(t, "read");
    expect(failures.at(-1)).toMatchObject({ failures: 1, retryInMs: 500 });
  });

  it("does not refetch for unknown kids while backing off", async () => {
    const auth = await urlAuth({ cooldownMs: 0, backoffMinMs: 1000 });
    await auth.authenticate(await token(), "read");
    server.mode = "error";
    const unknown = await token("k-unknown");
    for (let i = 0; i < 5; i += 1) await expectAuthFailure(auth.authenticate(unknown, "read"), "unknown_key");
    expect(server.fetches).toBe(2);
    clock.ms += 1000;
    await expectAuthFailure(auth.authenticate(unknown, "read"), "unknown_key");
    expect(server.fetches).toBe(3);
    // The known keys are fresh and keep working throughout.
    await expect(auth.authenticate(await token(), "read")).resolves.toMatchObject(EXPECTED);
  });
});
