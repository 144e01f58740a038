/**
 * An in-test TCP proxy in front of one loopback port, for the network-fault tests (a black hole
 * between Floodgate and Redis: test/integration/fault-blackhole.test.ts).
 *
 * `blackhole()` makes the network look dead without closing anything: every socket stays open,
 * no byte moves in either direction, no FIN or RST is sent, and new connections are accepted but
 * go nowhere. Bytes that arrive meanwhile are held, not dropped, the way TCP itself holds them
 * during an outage: dropping them would desynchronise a pipelined protocol such as RESP, which
 * is a different fault (a corrupt stream) from the one we simulate (a silent network).
 * `restore()` delivers what was held, in order, and forwards again.
 */
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

export interface TcpProxyOptions {
  readonly targetPort: number;
  readonly targetHost?: string;
}

export interface TcpProxy {
  /** The proxy's own loopback port. */
  readonly port: number;
  /** Client connections accepted so far. */
  readonly accepted: number;
  /** Stop forwarding in both directions; sockets stay open. */
  blackhole(): void;
  /** Deliver what was held and forward again. */
  restore(): void;
  /** Destroys every socket and stops listening. */
  close(): Promise<void>;
}

/** One direction of one connection: from → to, with what was held during a blackhole. */
interface Lane {
  readonly from: Socket;
  readonly to: Socket;
  readonly held: Buffer[];
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = options.targetHost ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  const lanes: Lane[] = [];
  let holed = false;
  let accepted = 0;

  const remember = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // A reset peer is an ordinary event here; the pair is torn down below.
    socket.on("error", () => undefined);
  };

  const send = (lane: Lane, chunk: Buffer): void => {
    if (lane.to.destroyed) return;
    if (!lane.to.write(chunk)) {
      lane.from.pause();
      lane.to.once("drain", () => {
        if (!holed) lane.from.resume();
      });
    }
  };

  const wire = (from: Socket, to: Socket): void => {
    const lane: Lane = { from, to, held: [] };
    lanes.push(lane);
    from.on("data", (chunk: Buffer) => {
      if (holed) {
        lane.held.push(chunk);
        from.pause();
        return;
      }
      send(lane, chunk);
    });
    from.once("close", () => {
      lanes.splice(lanes.indexOf(lane), 1);
      to.destroy();
    });
    if (holed) from.pause();
  };

  const server: Server = createServer((client) => {
    accepted++;
    remember(client);
    const upstream = connect({ host: targetHost, port: options.targetPort });
    remember(upstream);
    wire(client, upstream);
    wire(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    get accepted() {
      return accepted;
    },
    blackhole() {
      holed = true;
      for (const lane of lanes) lane.from.pause();
    },
    restore() {
      holed = false;
      for (const lane of lanes) {
        for (const chunk of lane.held.splice(0)) send(lane, chunk);
        if (!lane.from.destroyed) lane.from.resume();
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
