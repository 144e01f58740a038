/**
 * One socket write per event-loop turn for the store's Redis commands.
 *
 * Why: ioredis writes every command to the socket as it is sent, so each ShouldRateLimit call
 * cost one write() system call in Floodgate and one read in Redis. Under load the requests of a
 * turn arrive together (one HTTP/2 read carries many streams), so their commands can leave
 * together too: the first command of a turn corks the socket, and a setImmediate (which runs after
 * the I/O poll phase in which those requests arrived) uncorks it, when Node writes everything
 * buffered with one writev. Measured with `make bench` (docs/benchmarks.md): Redis spent about a
 * fifth less CPU per request, and the server no less.
 *
 * ioredis's own auto-pipelining batches too, but it builds a Pipeline per batch and flushes on
 * process.nextTick, which Node runs after each HTTP/2 stream's callback, so it batched little and
 * cost more (it measured slower; client.ts).
 *
 * Idle, a command waits only for the rest of the turn that sent it, which is nothing but itself.
 * Only a single node or Sentinel's master has one socket; a Cluster client is left as it is.
 */

/** What is needed of a socket (a net.Socket or tls.TLSSocket). */
export interface Corkable {
  cork(): void;
  uncork(): void;
  readonly writable: boolean;
}

/** Returns `beforeSend`: call it before each command; it corks the socket once per turn. */
export function createWriteBatcher(socketOf: () => Corkable | undefined): () => void {
  let corked: Corkable | undefined;
  const flush = (): void => {
    const socket = corked;
    corked = undefined;
    socket?.uncork();
  };
  return () => {
    if (corked !== undefined) return;
    const socket = socketOf();
    // A closed or reconnecting socket is not corked: ioredis fails the command at once anyway.
    if (socket === undefined || !socket.writable) return;
    socket.cork();
    corked = socket;
    setImmediate(flush);
  };
}

/** ioredis keeps a single node's socket in `stream` (replaced on every reconnect). */
export function redisSocket(client: object): Corkable | undefined {
  const stream = (client as { stream?: Partial<Corkable> }).stream;
  return typeof stream?.cork === "function" && typeof stream.uncork === "function"
    ? (stream as Corkable)
    : undefined;
}
