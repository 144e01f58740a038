import { describe, expect, it } from "vitest";
import { LogThrottle } from "../../src/observability/log-throttle.js";

// A flood of failed authentications must not become a flood of log lines (docs/admin-auth.md,
// "How failures are reported").

interface Line {
  readonly at: number;
  readonly fields: { n: number };
  readonly suppressed: number;
}

function setup(maxKinds?: number) {
  const clock = { t: 0 };
  const lines: Line[] = [];
  const timers: { at: number; run: () => void }[] = [];
  const throttle = new LogThrottle<{ n: number }>(
    (fields, suppressed) => lines.push({ at: clock.t, fields, suppressed }),
    {
      intervalMs: 10_000,
      now: () => clock.t,
      schedule: (run, ms) => timers.push({ at: clock.t + ms, run }),
      ...(maxKinds === undefined ? {} : { maxKinds }),
    },
  );
  /** Moves the clock, running the timers that fall due on the way, as the event loop would. */
  const advance = (to: number) => {
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const next = timers[0];
      if (next === undefined || next.at > to) break;
      timers.shift();
      clock.t = next.at;
      next.run();
    }
    clock.t = to;
  };
  return { clock, lines, timers, throttle, advance };
}

describe("LogThrottle", () => {
  it("writes the first line at once, then one line per interval with the count held back", () => {
    const { lines, throttle, advance } = setup();
    for (let i = 0; i < 100; i += 1) {
      advance(i * 250); // 4 a second for 25 s
      throttle.note("signature", { n: i });
    }
    advance(60_000);
    expect(lines.map((l) => [l.at, l.fields.n, l.suppressed])).toEqual([
      [0, 0, 0],
      [10_000, 39, 38], // the last one held back is shown; 38 others were not
      [20_000, 79, 39],
      [30_000, 99, 19],
    ]);
    expect(lines.reduce((sum, l) => sum + 1 + l.suppressed, 0)).toBe(100); // every event accounted for
  });

  it("after a quiet interval, the next failure is written at once again", () => {
    const { lines, throttle, advance } = setup();
    throttle.note("expired", { n: 1 });
    advance(10_000);
    throttle.note("expired", { n: 2 });
    advance(35_000);
    throttle.note("expired", { n: 3 });
    expect(lines.map((l) => [l.at, l.fields.n, l.suppressed])).toEqual([
      [0, 1, 0],
      [10_000, 2, 0],
      [35_000, 3, 0],
    ]);
  });

  it("throttles each kind on its own", () => {
    const { lines, throttle, advance } = setup();
    throttle.note("missing", { n: 1 });
    throttle.note("signature", { n: 2 });
    throttle.note("missing", { n: 3 });
    throttle.note("signature", { n: 4 });
    throttle.note("signature", { n: 5 });
    advance(10_000);
    expect(lines.map((l) => [l.fields.n, l.suppressed])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
      [5, 1],
    ]);
  });

  it("writes a held-back count with the next line when its timer has not run yet", () => {
    const { clock, lines, throttle } = setup(); // no advance(): the timer never fires
    throttle.note("missing", { n: 1 });
    throttle.note("missing", { n: 2 });
    throttle.note("missing", { n: 3 });
    clock.t = 10_000;
    throttle.note("missing", { n: 4 });
    expect(lines.map((l) => [l.fields.n, l.suppressed])).toEqual([
      [1, 0],
      [4, 2],
    ]);
  });

  it("keeps at most maxKinds kinds; the rest share one", () => {
    const { lines, throttle, advance } = setup(3);
    for (let i = 0; i < 50; i += 1) throttle.note(`kind-${i}`, { n: i });
    // Two kinds of their own, and one shared by the other 48.
    expect(lines.map((l) => l.fields.n)).toEqual([0, 1, 2]);
    advance(10_000);
    expect(lines.map((l) => [l.fields.n, l.suppressed])).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [49, 46],
    ]);
    expect(throttle.kinds).toBeLessThanOrEqual(3);
    advance(30_000); // quiet: everything is forgotten
    expect(throttle.kinds).toBe(0);
  });
});
