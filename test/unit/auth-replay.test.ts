import { describe, expect, it } from "vitest";
import { createAuthenticator } from "../../src/admin/auth/authenticator.js";
import { ReplayCache } from "../../src/admin/auth/replay-cache.js";
import type { Authenticator } from "../../src/admin/auth/types.js";
import {
  adminSettings,
  b64url,
  bearer,
  claims,
  expectAuthFailure,
  sign,
  TOLERANCE_S,
  useKeyFixture,
} from "./support/auth-fixtures.js";

// A write call's token is single-use (its jti), for the token's lifetime (docs/admin-auth.md,
// "Single-use write tokens").

describe("ReplayCache", () => {
  function cache(capacity: number) {
    const clock = { t: 1_000 };
    return { clock, replay: new ReplayCache(capacity, () => clock.t) };
  }

  it("says fresh once, then replayed until the entry may be forgotten", () => {
    const { clock, replay } = cache(10);
    expect(replay.claim("a", 5_000)).toBe("fresh");
    expect(replay.claim("a", 5_000)).toBe("replayed");
    expect(replay.claim("b", 5_000)).toBe("fresh");
    clock.t = 4_999;
    expect(replay.claim("a", 5_000)).toBe("replayed");
    clock.t = 5_000; // the token has expired beyond the tolerance: the verifier refuses it anyway
    expect(replay.claim("a", 9_000)).toBe("fresh");
  });

  it("fails closed when full of live entries, and never evicts one", () => {
    const { clock, replay } = cache(2);
    expect(replay.claim("a", 5_000)).toBe("fresh");
    expect(replay.claim("b", 8_000)).toBe("fresh");
    expect(replay.claim("c", 9_000)).toBe("full");
    expect(replay.claim("a", 5_000)).toBe("replayed"); // still known, full or not
    expect(replay.claim("b", 8_000)).toBe("replayed");
    clock.t = 5_000; // "a" may go now: room for one
    expect(replay.claim("c", 9_000)).toBe("fresh");
    expect(replay.claim("d", 9_000)).toBe("full");
    expect(replay.claim("b", 8_000)).toBe("replayed");
    expect(replay.size).toBe(2);
  });

  it("stores a digest, so a long jti costs no more than a short one", () => {
    const { replay } = cache(1);
    const long = "j".repeat(6000);
    expect(replay.claim(long, 5_000)).toBe("fresh");
    expect(replay.claim(long, 5_000)).toBe("replayed");
    expect(replay.claim(`${long}x`, 5_000)).toBe("full");
  });
});

describe("single-use write tokens", () => {
  const fx = useKeyFixture();
  const key = () => fx.keys[0]!;

  async function authenticator(replayCacheSize?: number): Promise<Authenticator> {
    const jwksFile = await fx.dir.write("replay.json", JSON.stringify({ keys: [key().jwk] }));
    return createAuthenticator(
      adminSettings({ jwksFile }),
      replayCacheSize === undefined ? {} : { replayCacheSize },
    );
  }

  it("refuses a write token whose jti was already used, as replayed", async () => {
    const auth = await authenticator();
    const token = bearer(await sign(key(), claims({ jti: "once" })));
    await expect(auth.authenticate(token, "write")).resolves.toMatchObject({ jti: "once" });
    await expectAuthFailure(auth.authenticate(token, "write"), "replayed");
    // Another token with the same jti (signed again, later) is the same token id: refused too.
    await expectAuthFailure(
      auth.authenticate(bearer(await sign(key(), claims({ jti: "once", sub: "bob" }))), "write"),
      "replayed",
    );
    await expect(
      auth.authenticate(bearer(await sign(key(), claims({ jti: "twice" }))), "write"),
    ).resolves.toBeDefined();
  });

  it("lets a token read as often as it likes, before and after its one write", async () => {
    const auth = await authenticator();
    const token = bearer(await sign(key(), claims({ jti: "reader" })));
    await auth.authenticate(token, "read");
    await auth.authenticate(token, "read");
    await auth.authenticate(token, "write");
    await expect(auth.authenticate(token, "read")).resolves.toMatchObject({ jti: "reader" });
    await expectAuthFailure(auth.authenticate(token, "write"), "replayed");
  });

  it("refuses a write token without a jti (it cannot be checked for replay), and lets it read", async () => {
    const auth = await authenticator();
    const token = bearer(await sign(key(), claims({ jti: undefined })));
    await expectAuthFailure(auth.authenticate(token, "write"), "jti_required");
    await expect(auth.authenticate(token, "read")).resolves.toMatchObject({ jti: undefined });
    await expectAuthFailure(
      auth.authenticate(bearer(await sign(key(), claims({ jti: "" }))), "write"),
      "jti_required",
    );
  });

  it("claims a jti only once the token verified: a forged token cannot burn a real one", async () => {
    const auth = await authenticator();
    const real = await sign(key(), claims({ jti: "victim" }));
    const [header, , signature] = real.split(".");
    const forged = `${header}.${b64url(claims({ jti: "victim", sub: "mallory" }))}.${signature}`;
    await expectAuthFailure(auth.authenticate(bearer(forged), "write"), "signature");
    const expired = await sign(key(), claims({ jti: "victim", iat: 1, exp: 2 }));
    await expectAuthFailure(auth.authenticate(bearer(expired), "write"), "expired");
    await expect(auth.authenticate(bearer(real), "write")).resolves.toMatchObject({ jti: "victim" });
  });

  it("fails closed when the cache is full of live write tokens", async () => {
    const auth = await authenticator(2);
    for (const jti of ["w1", "w2"])
      await auth.authenticate(bearer(await sign(key(), claims({ jti }))), "write");
    await expectAuthFailure(
      auth.authenticate(bearer(await sign(key(), claims({ jti: "w3" }))), "write"),
      "replay_cache_full",
    );
    // Reads do not need the cache.
    await expect(
      auth.authenticate(bearer(await sign(key(), claims({ jti: "w3" }))), "read"),
    ).resolves.toBeDefined();
  });

  it("keeps a jti until the token's exp plus the clock tolerance", async () => {
    const clock = { ms: Date.now() };
    const jwksFile = await fx.dir.write("replay-clock.json", JSON.stringify({ keys: [key().jwk] }));
    const auth = await createAuthenticator(adminSettings({ jwksFile }), { now: () => clock.ms });
    const exp = Math.floor(clock.ms / 1000) + 60;
    const token = bearer(await sign(key(), claims({ jti: "timed", exp })));
    await auth.authenticate(token, "write");
    // jose still accepts the token up to exp + tolerance, so the cache must remember it that long.
    clock.ms = (exp + TOLERANCE_S) * 1000 - 1;
    const again = bearer(await sign(key(), claims({ jti: "timed", exp })));
    await expectAuthFailure(auth.authenticate(again, "write"), "replayed");
    // From then on the verifier refuses it as expired; only then is the jti forgotten.
    clock.ms = (exp + TOLERANCE_S) * 1000;
    await expectAuthFailure(auth.authenticate(again, "write"), "expired");
  });
});
