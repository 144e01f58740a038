/**
 * What a start has opened, closed in reverse order, each once: by close() after a good start, and
 * at once when a later step of the start fails, so that a failed start leaves no socket, pool,
 * watcher or timer behind. A closer that throws is reported and the others still run.
 */
export class CloseStack {
  private readonly closers: (() => Promise<void> | void)[] = [];

  constructor(private readonly onError: (err: unknown) => void) {}

  push(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  async close(): Promise<void> {
    for (let close = this.closers.pop(); close !== undefined; close = this.closers.pop()) {
      try {
        await close();
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
