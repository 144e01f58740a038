import { describe, expect, it } from "vitest";
import { useFixture } from "../harness/fixture.js";
import type { RawConnection } from "../harness/raw-socket.js";
import { closedWithin, openRaw } from "../harness/raw-socket.js";
import { startTestServer } from "./support/floodgate.js";

/**
 * A client must not hold an HTTP connection for ever by sending slowly or not at all
 * (docs/security.md, threat 3). Node checks the request and header timeouts on a timer
 * (connectionsCheckingInterval), so these also prove that the timer runs often enough for the
 * timeouts to be honoured.
 */
const RULES = { "api.yaml": "domain: api\n" };
const BODY = JSON.stringify({ user_id: "slow", endpoint: "/login", weight: 1 });

function postHead(body: string): string {
  return (
    "POST /api/v1/check-limit HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n" +
    `content-length: ${Buffer.byteLength(body)}\r\n\r\n`
  );
}

/** A server with these settings; `open` makes a raw connection to its HTTP port, closed after the tests. */
function serverWith(env: Record<string, string>) {
  const opened: RawConnection[] = [];
  return useFixture(
    async () => {
      const server = await startTestServer({ rules: RULES, memory: true, env });
      const open = (): RawConnection => {
        const connection = openRaw(server.app.httpPort);
        opened.push(connection);
        return connection;
      };
      return { server, open };
    },
    async ({ server }) => {
      for (const connection of opened) connection.destroy();
      await server.stop();
    },
  );
}

describe("slow HTTP clients, default settings", () => {
  const fixture = serverWith({});

  it("cuts off a client that sends its headers and then trickles its body, within 15 s", async () => {
    const client = fixture.open();
    await client.connected;
    client.socket.write(postHead(BODY));
    client.trickle(BODY, 1000);
    const after = await closedWithin(client, 15_000);
    expect(after, "the trickling client was still connected after 15 s").toBeDefined();
    // Cut by HTTP_REQUEST_TIMEOUT_MS (10 s), not by anything sooner.
    expect(after!).toBeGreaterThan(9000);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
  }, 30_000);
});

describe("slow HTTP clients, short timeouts and a connection cap", () => {
  const fixture = serverWith({
    HTTP_HEADERS_TIMEOUT_MS: "1000",
    HTTP_REQUEST_TIMEOUT_MS: "2000",
    HTTP_IDLE_TIMEOUT_MS: "1000",
    HTTP_MAX_CONNECTIONS: "3",
  });

  it("cuts off a client that trickles its headers", async () => {
    const client = fixture.open();
    await client.connected;
    client.trickle(postHead(BODY), 200);
    const after = await closedWithin(client, 8000);
    expect(after, "the header-trickling client was still connected after 8 s").toBeDefined();
    expect(after!).toBeGreaterThan(900);
  });

  it("cuts off a client that connects and sends nothing", async () => {
    const client = fixture.open();
    await client.connected;
    const after = await closedWithin(client, 8000);
    expect(after, "the silent client was still connected after 8 s").toBeDefined();
    expect(after!).toBeGreaterThan(900);
  });

  it("closes a keep-alive connection that stays idle after a request", async () => {
    const client = fixture.open();
    await client.connected;
    client.socket.write(postHead(BODY) + BODY);
    const after = await closedWithin(client, 8000);
    expect(client.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(after, "the idle keep-alive connection was still open after 8 s").toBeDefined();
  });

  it("refuses connections beyond HTTP_MAX_CONNECTIONS, and accepts again once one closes", async () => {
    const held = [1, 2, 3].map(() => fixture.open());
    await Promise.all(held.map((c) => c.connected));
    // Give the server the time to count the held connections before the next one arrives.
    await new Promise((r) => setTimeout(r, 100));
    const beyond = fixture.open();
    beyond.socket.write(postHead(BODY) + BODY);
    const after = await closedWithin(beyond, 800);
    expect(after, "the connection beyond the cap was served").toBeDefined();
    expect(beyond.received()).toBe("");
    expect((await fixture.server.app.metrics.httpConnectionsRefused.get()).values[0]?.value).toBe(1);
    held[0]!.destroy();
    await held[0]!.closed;
    await new Promise((r) => setTimeout(r, 100));
    const response = await fetch(`${fixture.server.httpUrl}/healthz`);
    expect(response.status).toBe(200);
  });
});
