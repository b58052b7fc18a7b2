// Server log lines -> output channel levels (pure; no vscode).
import { describe, expect, it } from 'vitest';
import { parseServerLogLine } from '../src/serverLog';

describe('parseServerLogLine', () => {
  it('reads the level and drops the timestamp', () => {
    expect(parseServerLogLine('2026-11-24 09:44:02,738 INFO offpilot.engine.local: model loaded'))
      .toEqual({ level: 'info', text: 'offpilot.engine.local: model loaded' });
    expect(parseServerLogLine('2026-11-24 09:44:03,853 ERROR offpilot.features.completion: context retrieval failed').level).toBe('error');
    expect(parseServerLogLine('2026-11-24 09:44:03,853 WARNING x: y').level).toBe('warn');
    expect(parseServerLogLine('2026-11-24T09:44:03.853 DEBUG x: y').level).toBe('debug');
    expect(parseServerLogLine('ERROR: cannot bind').level).toBe('error');
  });

  it('keeps the previous level for continuation lines (tracebacks)', () => {
    expect(parseServerLogLine('Traceback (most recent call last):', 'error')).toEqual({ level: 'error', text: 'Traceback (most recent call last):' });
    expect(parseServerLogLine('llama_model_loader: loaded meta data')).toEqual({ level: 'info', text: 'llama_model_loader: loaded meta data' });
  });
});
