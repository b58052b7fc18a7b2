// When to restart a crashed server: exponential backoff, reset once a run has been stable,
// give up after too many crashes in a short window. Pure and clock-injected for tests.

export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** Give up when more than this many crashes happen within `windowMs`. */
  maxCrashesInWindow: number;
  windowMs: number;
  /** A run at least this long counts as healthy: the next crash starts the delays over. */
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  maxCrashesInWindow: 5,
  windowMs: 3 * 60_000,
  stableAfterMs: 60_000,
};

export class RestartBackoff {
  private crashes: number[] = [];
  private consecutive = 0;
  private startedAt: number | undefined;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly now: () => number = Date.now,
  ) {}

  /** Call when the server is up (initialized). */
  noteStarted(): void {
    this.startedAt = this.now();
  }

  /**
   * Call when the server exited unexpectedly. Returns the delay before the next start in
   * milliseconds, or `undefined` when the server should stay down.
   */
  noteCrash(): number | undefined {
    const at = this.now();
    if (this.startedAt !== undefined && at - this.startedAt >= this.options.stableAfterMs) {
      this.consecutive = 0;
    }
    this.startedAt = undefined;
    this.crashes = this.crashes.filter((t) => at - t < this.options.windowMs);
    this.crashes.push(at);
    if (this.crashes.length > this.options.maxCrashesInWindow) {
      return undefined;
    }
    const delay = this.options.initialDelayMs * this.options.factor ** this.consecutive;
    this.consecutive += 1;
    return Math.min(delay, this.options.maxDelayMs);
  }

  /** Forget the history (a restart the user asked for). */
  reset(): void {
    this.crashes = [];
    this.consecutive = 0;
    this.startedAt = undefined;
  }
}
