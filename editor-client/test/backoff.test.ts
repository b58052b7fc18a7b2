// Restart backoff policy (pure; no vscode).
import { describe, expect, it } from 'vitest';
import { RestartBackoff } from '../src/backoff';

const options = { initialDelayMs: 1000, maxDelayMs: 8000, factor: 2, maxCrashesInWindow: 5, windowMs: 180_000, stableAfterMs: 60_000 };

describe('RestartBackoff', () => {
  it('doubles the delay for consecutive crashes up to the cap', () => {
    let now = 0;
    const b = new RestartBackoff({ ...options, maxCrashesInWindow: 100 }, () => now);
    const delays = [];
    for (let i = 0; i < 6; i++) {
      b.noteStarted();
      now += 5000;  // crashes soon after each start
      delays.push(b.noteCrash());
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('gives up after too many crashes within the window', () => {
    let now = 0;
    const b = new RestartBackoff(options, () => now);
    const delays = [];
    for (let i = 0; i < 6; i++) {
      now += 1000;
      delays.push(b.noteCrash());
    }
    expect(delays.slice(0, 5).every((d) => typeof d === 'number')).toBe(true);
    expect(delays[5]).toBeUndefined();
  });

  it('forgets crashes older than the window', () => {
    let now = 0;
    const b = new RestartBackoff(options, () => now);
    for (let i = 0; i < 5; i++) { now += 1000; b.noteCrash(); }
    now += 200_000;
    expect(b.noteCrash()).toBeTypeOf('number');
  });

  it('starts over after a stable run', () => {
    let now = 0;
    const b = new RestartBackoff(options, () => now);
    b.noteStarted(); now += 1000; expect(b.noteCrash()).toBe(1000);
    b.noteStarted(); now += 1000; expect(b.noteCrash()).toBe(2000);
    b.noteStarted(); now += 120_000; expect(b.noteCrash()).toBe(1000);
  });

  it('reset() clears the history (a restart the user asked for)', () => {
    let now = 0;
    const b = new RestartBackoff(options, () => now);
    for (let i = 0; i < 6; i++) { now += 10; b.noteCrash(); }
    b.reset();
    expect(b.noteCrash()).toBe(1000);
  });
});
