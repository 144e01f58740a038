/**
 * A latency histogram in microseconds: exact below 1024 µs, then 512 sub-buckets per power of two
 * (under 0.2% error), so percentiles cost no sorting and the generator processes can send their
 * counts to the parent and be merged.
 */
const LINEAR = 1024;
const SUB_BITS = 9;
const SUB = 1 << SUB_BITS;
/** Latencies are clamped at about 17 minutes; a bench never waits that long. */
const MAX_US = 2 ** 30 - 1;

function indexOf(us: number): number {
  const v = Math.min(MAX_US, Math.max(0, Math.floor(us)));
  if (v < LINEAR) return v;
  const shift = Math.floor(Math.log2(v)) - SUB_BITS;
  return LINEAR + (shift - 1) * SUB + ((v >> shift) - SUB);
}

/** The middle of the bucket, in µs. */
function valueOf(index: number): number {
  if (index < LINEAR) return index;
  const shift = Math.floor((index - LINEAR) / SUB) + 1;
  const sub = ((index - LINEAR) % SUB) + SUB;
  return sub * 2 ** shift + 2 ** (shift - 1);
}

/** Sparse counts, as sent between processes: [bucket index, count] pairs. */
export type HistogramData = [number, number][];

export class Histogram {
  private readonly counts = new Map<number, number>();
  private total = 0;

  record(us: number): void {
    const index = indexOf(us);
    this.counts.set(index, (this.counts.get(index) ?? 0) + 1);
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  merge(data: HistogramData): this {
    for (const [index, n] of data) {
      this.counts.set(index, (this.counts.get(index) ?? 0) + n);
      this.total += n;
    }
    return this;
  }

  toData(): HistogramData {
    return [...this.counts.entries()];
  }

  /** The latency at quantile q (0..1) in milliseconds; NaN when empty. */
  quantileMs(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    const indexes = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const index of indexes) {
      seen += this.counts.get(index)!;
      if (seen >= rank) return valueOf(index) / 1000;
    }
    return valueOf(indexes[indexes.length - 1]!) / 1000;
  }
}
