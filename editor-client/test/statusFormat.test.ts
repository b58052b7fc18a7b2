// Status bar text for each server state (pure; no vscode).
import { describe, expect, it } from 'vitest';
import { formatStatus, shortModelName } from '../src/statusFormat';

const running = { connection: 'running' as const, completionsEnabled: true };

describe('formatStatus', () => {
  it('shows the model and the state', () => {
    expect(formatStatus({ state: 'ready', model: 'gemma3-270m', message: '' }, running))
      .toEqual({ text: '$(sparkle) gemma3-270m · ready', tooltip: 'Offpilot — gemma3-270m: ready\nClick for options.', severity: 'normal' });
  });

  it('spins while loading, indexing or generating', () => {
    expect(formatStatus({ state: 'loading', model: '/models/qwen2.5-coder-1.5b-q8_0.gguf' }, running).text)
      .toBe('$(loading~spin) qwen2.5-coder-1.5b-q8_0 · loading model');
    expect(formatStatus({ state: 'indexing', model: 'm', message: '120/300 files' }, running))
      .toMatchObject({ text: '$(sync~spin) m · indexing', tooltip: expect.stringContaining('120/300 files') });
    expect(formatStatus({ state: 'generating', model: 'm' }, running).text).toBe('$(loading~spin) m · generating');
  });

  it('marks errors and a missing model', () => {
    const error = formatStatus({ state: 'error', model: 'm', message: 'file not found' }, running);
    expect(error).toMatchObject({ text: '$(error) m · error', severity: 'error' });
    expect(error.tooltip).toContain('file not found');
    expect(formatStatus({ state: 'no-model', model: '' }, running)).toMatchObject({ text: '$(warning) no model', severity: 'warning' });
  });

  it('says when completions are off, globally or for the language', () => {
    const off = formatStatus({ state: 'ready', model: 'm' }, { ...running, completionsEnabled: false });
    expect(off.text).toBe('$(circle-slash) m · ready');
    expect(off.tooltip).toContain('Inline completions are off.');
    const lang = formatStatus({ state: 'ready', model: 'm' }, { ...running, disabledLanguage: 'markdown' });
    expect(lang.tooltip).toContain('off for markdown');
  });

  it('reflects the connection before the server reports', () => {
    expect(formatStatus(undefined, { ...running, connection: 'starting' }).text).toBe('$(loading~spin) Offpilot: starting');
    expect(formatStatus({ state: 'ready' }, { ...running, connection: 'restarting' }).text).toBe('$(loading~spin) Offpilot: restarting');
    expect(formatStatus({ state: 'ready' }, { ...running, connection: 'failed' })).toMatchObject({ text: '$(error) Offpilot: stopped', severity: 'error' });
  });

  it('shows an unknown state as it is', () => {
    expect(formatStatus({ state: 'warming', model: 'm' }, running).text).toBe('$(question) m · warming');
  });
});

describe('shortModelName', () => {
  it('keeps profile names and shortens paths', () => {
    expect(shortModelName('qwen2.5-coder-1.5b')).toBe('qwen2.5-coder-1.5b');
    expect(shortModelName('C:\\models\\Tiny.GGUF')).toBe('Tiny');
    expect(shortModelName(undefined)).toBe('');
  });
});
