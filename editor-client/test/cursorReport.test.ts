// The cursor report: one notification per pause, none for selections outside completed files.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CursorParams, CursorReporter } from '../src/cursorReport';

describe('CursorReporter', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('sends once the cursor has settled, with the last place', () => {
    const sent: CursorParams[] = [];
    const reporter = new CursorReporter((p) => sent.push(p), 300);
    reporter.moved({ uri: 'file:///a.py', line: 1, character: 0 });
    vi.advanceTimersByTime(200);
    reporter.moved({ uri: 'file:///a.py', line: 9, character: 4 });
    vi.advanceTimersByTime(299);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([{ textDocument: { uri: 'file:///a.py' }, position: { line: 9, character: 4 } }]);
  });

  it('does not repeat a place and stops for documents it does not complete', () => {
    const sent: CursorParams[] = [];
    const reporter = new CursorReporter((p) => sent.push(p), 300);
    reporter.moved({ uri: 'file:///a.py', line: 2, character: 1 });
    vi.advanceTimersByTime(300);
    reporter.moved({ uri: 'file:///a.py', line: 2, character: 1 });
    vi.advanceTimersByTime(300);
    reporter.moved({ uri: 'file:///a.py', line: 3, character: 0 });
    reporter.moved(undefined);
    vi.advanceTimersByTime(1000);
    expect(sent.length).toBe(1);
    reporter.moved({ uri: 'file:///b.py', line: 0, character: 0 });
    reporter.dispose();
    vi.advanceTimersByTime(1000);
    expect(sent.length).toBe(1);
  });
});
