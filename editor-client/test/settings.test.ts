// Configuration -> initializationOptions mapping, and package.json kept in sync with the
// server's settings schema (pure; no vscode).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_ONLY_SETTINGS, completionsWanted, inlineRequestWanted, onlyServerSettings, SERVER_SETTINGS, serverSettings,
  toggledLanguages, triggerMode,
} from '../src/settings';

const root = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const properties: Record<string, { default: unknown; description?: string; enum?: string[]; scope?: string }> =
  manifest.contributes.configuration.properties;

describe('serverSettings', () => {
  it('sends every server setting and nothing else', () => {
    const values: Record<string, unknown> = { model: 'qwen2.5-coder-1.5b', maxTokens: 32, disabledLanguages: ['markdown'],
      'server.command': ['x'], server: { command: ['x'] }, temperature: 0 };
    const options = serverSettings((name) => values[name]);
    expect(options).toEqual({ model: 'qwen2.5-coder-1.5b', maxTokens: 32, disabledLanguages: ['markdown'], temperature: 0 });
  });

  it('maps the contributed defaults to the server defaults', () => {
    const options = serverSettings((name) => properties[`offpilot.${name}`]?.default);
    expect(Object.keys(options).sort()).toEqual([...SERVER_SETTINGS].sort());
    expect(options).toMatchObject({ model: '', promptMode: 'auto', contextSize: 4096, completionsEnabled: true, temperature: 0, logLevel: 'info' });
  });

  it('filters a workspace/configuration answer', () => {
    expect(onlyServerSettings({ model: 'm', server: { command: [] }, trace: { server: 'verbose' }, maxLines: 3 }))
      .toEqual({ model: 'm', maxLines: 3 });
    expect(onlyServerSettings(null)).toBeNull();
  });
});

describe('completion toggles', () => {
  it('decides per language', () => {
    const read = (v: Record<string, unknown>) => (name: string) => v[name];
    expect(completionsWanted(read({}), 'python')).toBe(true);
    expect(completionsWanted(read({ completionsEnabled: false }), 'python')).toBe(false);
    expect(completionsWanted(read({ disabledLanguages: ['markdown'] }), 'markdown')).toBe(false);
    expect(completionsWanted(read({ disabledLanguages: ['markdown'] }), 'python')).toBe(true);
  });

  it('toggles a language in and out of the list', () => {
    expect(toggledLanguages(['rust'], 'markdown')).toEqual(['markdown', 'rust']);
    expect(toggledLanguages(['markdown', 'rust'], 'markdown')).toEqual(['rust']);
    expect(toggledLanguages(undefined, 'go')).toEqual(['go']);
  });
});

describe('offpilot.triggerMode', () => {
  const read = (v: Record<string, unknown>) => (name: string) => v[name];
  it('is automatic unless set to manual', () => {
    expect(triggerMode(read({}))).toBe('automatic');
    expect(triggerMode(read({ triggerMode: 'manual' }))).toBe('manual');
    expect(triggerMode(read({ triggerMode: 'sometimes' }))).toBe('automatic');
  });

  it('in manual mode sends only the requests the user asked for', () => {
    expect(inlineRequestWanted(read({}), true)).toBe(true);
    expect(inlineRequestWanted(read({ triggerMode: 'manual' }), true)).toBe(false);
    expect(inlineRequestWanted(read({ triggerMode: 'manual' }), false)).toBe(true);
  });

  it('stays in the extension', () => {
    expect(serverSettings(read({ triggerMode: 'manual', maxLines: 2 }))).toEqual({ maxLines: 2 });
    expect(properties['offpilot.triggerMode']).toMatchObject({ default: 'automatic', enum: ['automatic', 'manual'] });
  });
});

describe('package.json', () => {
  it('contributes exactly the server settings plus the client-only ones', () => {
    const names = Object.keys(properties).map((k) => k.replace(/^offpilot\./, '')).sort();
    expect(names).toEqual([...SERVER_SETTINGS, ...CLIENT_ONLY_SETTINGS].sort());
  });

  const python = process.env.OFFPILOT_PYTHON ?? 'python3';
  let described: { name: string; default: unknown; description: string; choices: string[]; scope?: string | null }[] | undefined;
  try {
    // (settings the extension sets itself, such as workspaceTrusted, are not user settings here)
    described = (JSON.parse(execFileSync(python, ['-c',
      'import json, sys; sys.path.insert(0, sys.argv[1]); from offpilot.config import describe_settings; print(json.dumps(describe_settings()))',
      path.join(root, '..', 'server')], { encoding: 'utf8' })) as { editorSetting?: boolean; name: string; default: unknown; description: string; choices: string[]; scope?: string | null }[])
      .filter((d) => d.editorSetting !== false);
  } catch {
    described = undefined;
  }

  it.skipIf(described === undefined)('matches the server schema: names, defaults, descriptions, choices, scopes', () => {
    for (const d of described!) {
      const p = properties[`offpilot.${d.name}`];
      expect(p, d.name).toBeDefined();
      expect(p!.default, d.name).toEqual(d.default);
      expect(p!.description, d.name).toBe(d.description);
      expect(p!.enum ?? [], d.name).toEqual(d.choices);
      expect(p!.scope ?? null, d.name).toBe(d.scope ?? null);
    }
    expect(described!.map((d) => d.name).sort()).toEqual([...SERVER_SETTINGS].sort());
  });

  it('can be packaged by plain `vsce package`, and binds Alt+\\ to trigger a suggestion', () => {
    expect(manifest.scripts['vscode:prepublish']).toContain('--production');
    expect(manifest.contributes.keybindings).toContainEqual(
      expect.objectContaining({ command: 'editor.action.inlineSuggest.trigger', key: 'alt+\\' }));
  });

  it('declares every command it uses in menus', () => {
    const commands = new Set(manifest.contributes.commands.map((c: { command: string }) => c.command));
    for (const entries of Object.values(manifest.contributes.menus) as { command: string }[][]) {
      for (const entry of entries) expect(commands.has(entry.command), entry.command).toBe(true);
    }
    for (const title of ['Explain This Code', 'Generate Unit Tests', 'Generate Tests for This File']) {
      expect(manifest.contributes.commands.some((c: { title: string; category: string }) => c.title === title && c.category === 'Offpilot')).toBe(true);
    }
  });
});
