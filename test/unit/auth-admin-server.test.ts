import { Client, credentials, Metadata, Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createAuthenticator } from "../../src/admin/auth/authenticator.js";
import { createLogger } from "../../src/observability/logger.js";
import type { AdminService } from "../../src/admin/admin-service.js";
import { addAdminService } from "../../src/transport/grpc/admin-server.js";
import { ADMIN_SERVICE, packageDefinition } from "../../src/transport/grpc/proto.js";
import type * as Proto from "../../src/transport/grpc/proto.js";
import { adminSettings, bearer, claims, makeKey, sign, useKeyFixture } from "./support/auth-fixtures.js";

// docs/security.md, threats 2, 4 and 8, at the Admin service's gRPC boundary (a real socket): the
// body of an unauthenticated call is never decoded, a write token is single-use, and failed
// authentications are counted one by one but logged once per interval.

/** Counts every decode of an Admin request body, wherever the server does it. */
const decodes = vi.hoisted(() => ({ count: 0 }));
vi.mock("../../src/transport/grpc/proto.js", async (importOriginal) => {
  const actual = await importOriginal<typeof Proto>();
  return {
    ...actual,
    serviceDefinition: (name: string) => {
      const definition = actual.serviceDefinition(name);
      if (name !== actual.ADMIN_SERVICE) return definition;
      const counted = Object.entries(definition).map(([method, d]) => [
        method,
        {
          ...d,
          requestDeserialize: (bytes: Buffer) => {
            decodes.count += 1;
            return d.requestDeserialize(bytes) as unknown;
          },
        },
      ]);
      return Object.fromEntries(counted) as typeof definition;
    },
  };
});

const fx = useKeyFixture();

/** What reached the service, the metric and the log of one server. */
interface Seen {
  service: number;
  readonly counts: string[];
  readonly lines: Record<string, unknown>[];
}

function stubService(seen: Seen): AdminService {
  const called = <T>(value: T) => {
    seen.service += 1;
    return Promise.resolve(value);
  };
  return {
    deleteOverride: () => called(true),
    listOverrides: () => called({ items: [], nextPageToken: undefined }),
  } as unknown as AdminService;
}

interface AdminServerUnderTest {
  readonly seen: Seen;
  readonly client: Client;
  close(): void;
}

/** The Admin service alone on a loopback port, with a real authenticator and a stub service. */
async function startAdminServer(): Promise<AdminServerUnderTest> {
  const jwksFile = await fx.dir.write("admin-server.json", JSON.stringify({ keys: [fx.keys[0]!.jwk] }));
  const seen: Seen = { service: 0, counts: [], lines: [] };
  const logger = createLogger("info", {
    write: (line: string) => void seen.lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  // A receive cap above the body sizes used here: this tests the Admin service, not the cap.
  const server = new Server({ "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  addAdminService(server, {
    admin: stubService(seen),
    authenticator: await createAuthenticator(adminSettings({ jwksFile })),
    logger,
    count: (method, result) => seen.counts.push(`${method}:${result}`),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
    "grpc.max_send_message_length": 4 * 1024 * 1024,
  });
  return {
    seen,
    client,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

let under: AdminServerUnderTest;
let seen: Seen;

beforeAll(async () => {
  under = await startAdminServer();
  seen = under.seen;
});

afterAll(() => under.close());

beforeEach(() => {
  decodes.count = 0;
  seen.service = 0;
  seen.counts.length = 0;
  seen.lines.length = 0;
});

type Outcome = { ok: true } | { ok: false; code: number; details: string };

/** Sends `body` as is (bytes, not an object): a test may send what no client library would. */
function raw(method: string, body: Buffer, authorization?: string, client = under.client): Promise<Outcome> {
  const metadata = new Metadata();
  if (authorization !== undefined) metadata.set("authorization", authorization);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/${ADMIN_SERVICE}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      metadata,
      { deadline: Date.now() + 15_000 },
      (err: ServiceError | null) =>
        resolve(err === null ? { ok: true } : { ok: false, code: err.code, details: err.details }),
    );
  });
}

function encode(method: string, request: object): Buffer {
  const definition = packageDefinition()[ADMIN_SERVICE] as unknown as Record<
    string,
    { requestSerialize: (value: object) => Buffer }
  >;
  return definition[method]!.requestSerialize(request);
}

/**
 * A well-formed SetOverride of 660 KB (the size docs/security.md measures): 330,000 empty descriptor
 * entries, two bytes each on the wire and an object each once decoded (100-500 ms here).
 */
const BIG = encode("SetOverride", {
  target: { domain: "api", entries: Array.from({ length: 330_000 }, () => ({})) },
  limit: { requests_per_unit: 1, unit: 1 },
  reason: "r",
});
/** A field tag with a length prefix that runs past the end: no Admin request decodes from it. */
const UNDECODABLE = Buffer.from([0xff, 0xff, 0xff]);
const SMALL = encode("DeleteOverride", { target: { user_id: "x" }, reason: "r" });

const UNAUTHENTICATED = { ok: false, code: status.UNAUTHENTICATED, details: "unauthenticated" };
const token = async (jti: string) => bearer(await sign(fx.keys[0]!, claims({ jti })));

describe("authentication before decoding", () => {
  it("refuses an unauthenticated 660 KB SetOverride without decoding its body", async () => {
    expect(BIG.length).toBeGreaterThan(600_000);
    const stranger = await makeKey("RS256", fx.keys[0]!.kid);
    for (const authorization of [
      undefined,
      "Bearer not.a.jwt",
      bearer(await sign(stranger, claims({ jti: "forged" }))),
    ]) {
      expect(await raw("SetOverride", BIG, authorization)).toEqual(UNAUTHENTICATED);
    }
    expect(decodes.count).toBe(0);
    expect(seen.service).toBe(0);
    // The counter does see decodes: an authenticated call is decoded, once.
    expect(await raw("ListOverrides", encode("ListOverrides", {}), await token("reader"))).toEqual({
      ok: true,
    });
    expect(decodes.count).toBe(1);
  });

  it("answers an unauthenticated caller the same whether or not its body decodes", async () => {
    expect(await raw("SetOverride", UNDECODABLE)).toEqual(UNAUTHENTICATED);
    expect(await raw("SetOverride", UNDECODABLE, "Bearer x.y.z")).toEqual(UNAUTHENTICATED);
    expect(decodes.count).toBe(0);
  });

  it("answers an authenticated caller's undecodable body with INVALID_ARGUMENT", async () => {
    expect(await raw("ListOverrides", UNDECODABLE, await token("bad-body"))).toEqual({
      ok: false,
      code: status.INVALID_ARGUMENT,
      details: "invalid request: body",
    });
    expect(seen.service).toBe(0);
  });

  it("spends no more time on a huge unauthenticated body than on a tiny one", async () => {
    // A generous bound for a noisy machine: decoding that body took 130-490 ms here before.
    const median = async (body: Buffer) => {
      const times: number[] = [];
      for (let i = 0; i < 7; i += 1) {
        const started = performance.now();
        await raw("SetOverride", body);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[3]!;
    };
    await median(SMALL); // warm-up
    const small = await median(SMALL);
    const big = await median(BIG);
    expect(big - small).toBeLessThan(50);
  });
});

describe("single-use write tokens over gRPC", () => {
  it("refuses the second write with the same token, as replayed, and lets reads repeat", async () => {
    const t = await token("write-once");
    expect(await raw("DeleteOverride", SMALL, t)).toEqual({ ok: true });
    expect(await raw("DeleteOverride", SMALL, t)).toEqual(UNAUTHENTICATED);
    expect(await raw("ListOverrides", encode("ListOverrides", {}), t)).toEqual({ ok: true });
    expect(await raw("ListOverrides", encode("ListOverrides", {}), t)).toEqual({ ok: true });
    expect(seen.counts).toEqual([
      "DeleteOverride:ok",
      "DeleteOverride:replayed",
      "ListOverrides:ok",
      "ListOverrides:ok",
    ]);
    expect(seen.service).toBe(3);
  });

  it("uses up the token on a write attempt that fails after authentication", async () => {
    const t = await token("failed-write");
    expect(await raw("DeleteOverride", UNDECODABLE, t)).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(await raw("DeleteOverride", SMALL, t)).toEqual(UNAUTHENTICATED);
    expect(seen.counts.at(-1)).toBe("DeleteOverride:replayed");
  });

  it("refuses a write with a token that has no jti, and lets it read", async () => {
    const t = bearer(await sign(fx.keys[0]!, claims({ jti: undefined })));
    expect(await raw("DeleteOverride", SMALL, t)).toEqual(UNAUTHENTICATED);
    expect(await raw("ListOverrides", encode("ListOverrides", {}), t)).toEqual({ ok: true });
    expect(seen.counts).toEqual(["DeleteOverride:jti_required", "ListOverrides:ok"]);
  });
});

describe("failed authentication log", () => {
  it("counts every failure but writes one warn line per kind and interval", async () => {
    const fresh = await startAdminServer(); // its own log throttle, untouched by the tests above
    try {
      for (let i = 0; i < 30; i += 1) {
        await raw("ListOverrides", SMALL, i % 2 === 0 ? undefined : "Bearer x", fresh.client);
      }
      const { counts, lines } = fresh.seen;
      expect(counts.filter((c) => c === "ListOverrides:missing")).toHaveLength(15);
      expect(counts.filter((c) => c === "ListOverrides:malformed")).toHaveLength(15);
      const refused = lines.filter((l) => l["msg"] === "admin request refused");
      expect(refused.map((l) => [l["result"], l["suppressed"]])).toEqual([
        ["missing", 0],
        ["malformed", 0],
      ]);
      expect(refused[0]).toMatchObject({ level: "warn", rpc: "ListOverrides" });
    } finally {
      fresh.close();
    }
  });
});
