/**
 * At most `max` pieces of work at once; the rest wait their turn in order. A freed slot is handed straight to the
 * next waiter, so a caller arriving at that moment cannot slip in and exceed the bound.
 */
export class ConcurrencyLimit {
  private readonly max: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`concurrency must be a positive integer (got ${max})`);
    this.max = max;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
