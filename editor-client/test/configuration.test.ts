// Configuration and StatusBar against a MOCKED `vscode` module (test/vscodeMock.ts, aliased in
// vitest.config.ts): settings are read from and written to an in-memory store.
import { beforeEach, describe, expect, it } from 'vitest';
import * as vscode from './vscodeMock';
import { Configuration } from '../src/configuration';
import { StatusBar } from '../src/statusBar';

beforeEach(() => {
  vscode.settingsStore.clear();
  vscode.updates.length = 0;
  vscode.window.activeTextEditor = undefined;
});

describe('Configuration (mocked vscode)', () => {
  it('builds initializationOptions from the offpilot section, without client-only keys', () => {
    vscode.settingsStore.set('offpilot.model', '/models/a.gguf');
    vscode.settingsStore.set('offpilot.maxLines', 4);
    vscode.settingsStore.set('offpilot.server.command', ['/bin/offpilot', 'serve']);
    const config = new Configuration();
    expect(config.initializationOptions()).toEqual({ model: '/models/a.gguf', maxLines: 4, workspaceTrusted: true });
    expect(config.launchSettings()).toEqual({ command: ['/bin/offpilot', 'serve'], pythonPath: undefined });
  });

  it('tells the server whether VS Code trusts the workspace, whatever the settings say', () => {
    vscode.settingsStore.set('offpilot.workspaceTrusted', true);  // not a setting: ignored
    const workspace = vscode.workspace as unknown as { isTrusted: boolean };
    workspace.isTrusted = false;
    try {
      expect(new Configuration().initializationOptions()).toEqual({ workspaceTrusted: false });
    } finally {
      workspace.isTrusted = true;
    }
  });

  it('writes the toggles as settings', async () => {
    const config = new Configuration();
    await config.setCompletionsEnabled(false);
    expect(await config.toggleLanguage('markdown')).toBe(false);
    expect(await config.toggleLanguage('markdown')).toBe(true);
    expect(vscode.updates).toEqual([
      { key: 'offpilot.completionsEnabled', value: false, target: vscode.ConfigurationTarget.Global },
      { key: 'offpilot.disabledLanguages', value: ['markdown'], target: vscode.ConfigurationTarget.Global },
      { key: 'offpilot.disabledLanguages', value: [], target: vscode.ConfigurationTarget.Global },
    ]);
    expect(config.completionsEnabled).toBe(false);
  });
});

describe('Configuration.inlineRequestWantedFor (mocked vscode)', () => {
  it('lets every request through in automatic mode, only invoked ones in manual mode', () => {
    const config = new Configuration();
    const doc = { languageId: 'python' } as unknown as import('vscode').TextDocument;
    expect(config.triggerMode).toBe('automatic');
    expect(config.inlineRequestWantedFor(doc, vscode.InlineCompletionTriggerKind.Automatic)).toBe(true);
    vscode.settingsStore.set('offpilot.triggerMode', 'manual');
    expect(config.triggerMode).toBe('manual');
    expect(config.inlineRequestWantedFor(doc, vscode.InlineCompletionTriggerKind.Automatic)).toBe(false);
    expect(config.inlineRequestWantedFor(doc, vscode.InlineCompletionTriggerKind.Invoke)).toBe(true);
    vscode.settingsStore.delete('offpilot.triggerMode');
  });
});

describe('StatusBar (mocked vscode)', () => {
  it('follows the connection and the offpilot/status notifications', () => {
    const bar = new StatusBar(new Configuration());
    const item = vscode.createdStatusBarItems.at(-1)!;
    expect(item.visible).toBe(true);
    expect(item.command).toBe('offpilot.showMenu');
    expect(item.text).toBe('$(loading~spin) Offpilot: starting');

    bar.setConnection('running');
    bar.setServerStatus({ state: 'loading', model: 'qwen2.5-coder-1.5b', message: '' });
    expect(item.text).toBe('$(loading~spin) qwen2.5-coder-1.5b · loading model');
    bar.setServerStatus({ state: 'ready', model: 'qwen2.5-coder-1.5b', message: '' });
    expect(item.text).toBe('$(sparkle) qwen2.5-coder-1.5b · ready');
    expect(item.accessibilityInformation).toEqual({ label: 'Offpilot status: qwen2.5-coder-1.5b · ready' });
    expect(item.backgroundColor).toBeUndefined();

    bar.setServerStatus({ nonsense: true });
    expect(item.text).toBe('$(sparkle) qwen2.5-coder-1.5b · ready');

    bar.setServerStatus({ state: 'error', model: 'qwen2.5-coder-1.5b', message: 'out of memory' });
    expect((item.backgroundColor as vscode.ThemeColor).id).toBe('statusBarItem.errorBackground');

    bar.setConnection('restarting');
    expect(item.text).toBe('$(loading~spin) Offpilot: restarting');
    expect(bar.serverStatus).toBeUndefined();
  });

  it('says when the small built-in model is in use, until another is chosen', () => {
    vscode.window.activeTextEditor = undefined;
    const bar = new StatusBar(new Configuration());
    const item = vscode.createdStatusBarItems.at(-1)!;
    bar.setConnection('running');
    bar.setServerStatus({ state: 'ready', model: 'Gemma 3 270m', message: '' });
    expect(bar.starterModel).toBe(true);
    expect(item.text).toBe('$(sparkle) Gemma 3 270m (starter) · ready');
    expect(item.tooltip).toContain('Get a better model');
    bar.setServerStatus({ state: 'loading', model: '/m/qwen2.5-coder-1.5b-q8_0.gguf', message: '' });
    expect(bar.starterModel).toBe(false);
    expect(item.text).toBe('$(loading~spin) qwen2.5-coder-1.5b-q8_0 · loading model');
  });

  it('says when suggestions come only when asked (triggerMode manual)', () => {
    vscode.settingsStore.set('offpilot.triggerMode', 'manual');
    const bar = new StatusBar(new Configuration());
    bar.setConnection('running');
    bar.setServerStatus({ state: 'ready', model: 'm' });
    expect(vscode.createdStatusBarItems.at(-1)!.tooltip).toContain('Suggestions only when asked: Alt+\\');
    vscode.settingsStore.delete('offpilot.triggerMode');
  });

  it('says when the active language is switched off', () => {
    vscode.settingsStore.set('offpilot.disabledLanguages', ['markdown']);
    vscode.window.activeTextEditor = { document: { languageId: 'markdown' } };
    const bar = new StatusBar(new Configuration());
    bar.setConnection('running');
    bar.setServerStatus({ state: 'ready', model: 'm' });
    const item = vscode.createdStatusBarItems.at(-1)!;
    expect(item.text).toBe('$(circle-slash) m · ready');
    expect(item.tooltip).toContain('off for markdown');
  });
});
