// Server command discovery (pure; no vscode).
import { describe, expect, it } from 'vitest';
import { cliInvocation, describeLaunch, DiscoveryEnvironment, resolveServerLaunch } from '../src/serverCommand';

function env(executables: string[] = [], onPath: Record<string, string> = {}, platform: NodeJS.Platform = 'linux'): DiscoveryEnvironment {
  return {
    workspaceFolders: ['/ws/one', '/ws/two'],
    workspaceTrusted: true,
    platform,
    homeDir: '/home/me',
    isExecutable: (f) => executables.includes(f),
    findOnPath: (n) => onPath[n],
  };
}

describe('resolveServerLaunch', () => {
  it('uses offpilot.server.command first, with variables expanded', () => {
    const launch = resolveServerLaunch(
      { command: ['${workspaceFolder}/.venv/bin/offpilot', 'serve', '--log-level', 'debug'], pythonPath: '/usr/bin/python3' },
      env(['/ws/one/.venv/bin/offpilot']));
    expect(launch).toEqual({ command: '/ws/one/.venv/bin/offpilot', args: ['serve', '--log-level', 'debug'], source: 'setting:server.command', found: true });
  });

  it('ignores an empty or malformed command setting', () => {
    for (const command of [[], [''], 'offpilot serve', [1, 2]]) {
      expect(resolveServerLaunch({ command }, env([], { offpilot: '/usr/bin/offpilot' })).source).toBe('path');
    }
  });

  it('runs python -m offpilot serve from offpilot.server.pythonPath', () => {
    const launch = resolveServerLaunch({ pythonPath: '~/venvs/op/bin/python' }, env());
    expect(launch).toEqual({ command: '/home/me/venvs/op/bin/python', args: ['-m', 'offpilot', 'serve'], source: 'setting:server.pythonPath', found: true });
  });

  it('finds .venv, then venv, in the workspace folders in order', () => {
    expect(resolveServerLaunch({}, env(['/ws/two/.venv/bin/offpilot', '/ws/one/venv/bin/offpilot'])))
      .toMatchObject({ command: '/ws/one/venv/bin/offpilot', args: ['serve'], source: 'workspace-venv' });
    expect(resolveServerLaunch({}, env(['/ws/two/.venv/bin/offpilot'])).command).toBe('/ws/two/.venv/bin/offpilot');
  });

  it('uses the Scripts folder on Windows', () => {
    const launch = resolveServerLaunch({}, { ...env(['C:\\ws\\.venv\\Scripts\\offpilot.exe'], {}, 'win32'), workspaceFolders: ['C:\\ws'] });
    expect(launch.command).toBe('C:\\ws\\.venv\\Scripts\\offpilot.exe');
  });

  it('falls back to PATH, and to the bare name when nothing is found', () => {
    expect(resolveServerLaunch({}, env([], { offpilot: '/usr/local/bin/offpilot' })))
      .toEqual({ command: '/usr/local/bin/offpilot', args: ['serve'], source: 'path', found: true });
    expect(resolveServerLaunch({}, env())).toEqual({ command: 'offpilot', args: ['serve'], source: 'path', found: false });
  });
});

describe('launch helpers', () => {
  it('quotes arguments with spaces for the log', () => {
    expect(describeLaunch({ command: '/my dir/offpilot', args: ['serve'], source: 'path', found: true })).toBe(`'/my dir/offpilot' serve`);
  });

  it('turns the serve launch into another CLI call', () => {
    expect(cliInvocation({ command: 'py', args: ['-m', 'offpilot', 'serve'], source: 'setting:server.pythonPath', found: true }, ['models', 'list']))
      .toEqual({ command: 'py', args: ['-m', 'offpilot', 'models', 'list'] });
  });
});

describe('the bundled server candidate', () => {
  it('comes last: after the settings, the workspace venv and PATH', () => {
    const bundledPython = '/gs/server/0.1.0-abc/venv/bin/python';
    expect(resolveServerLaunch({}, { ...env(), bundledPython }))
      .toEqual({ command: bundledPython, args: ['-m', 'offpilot', 'serve'], source: 'bundled', found: true });
    expect(resolveServerLaunch({}, { ...env([], { offpilot: '/usr/bin/offpilot' }), bundledPython }).source).toBe('path');
    expect(resolveServerLaunch({}, { ...env(['/ws/one/.venv/bin/offpilot']), bundledPython }).source).toBe('workspace-venv');
    expect(resolveServerLaunch({ pythonPath: '/usr/bin/python3' }, { ...env(), bundledPython }).source).toBe('setting:server.pythonPath');
  });

  it('is used in an untrusted workspace, where the workspace venv and an offpilot inside it are refused', () => {
    const bundledPython = '/gs/server/0.1.0-abc/venv/bin/python';
    const untrusted = { ...env(['/ws/one/.venv/bin/offpilot'], { offpilot: '/ws/one/.venv/bin/offpilot' }), workspaceTrusted: false };
    const launch = resolveServerLaunch({}, { ...untrusted, bundledPython });
    expect(launch).toMatchObject({ command: bundledPython, source: 'bundled', found: true });
    expect(launch.refused).toBeUndefined();
    // Not installed yet: refused, and not found, so the extension sets the bundled server up.
    expect(resolveServerLaunch({}, untrusted)).toMatchObject({ found: false, refused: expect.stringContaining('inside it') });
    // A bundled interpreter inside the workspace (it never is) would be refused like anything else there.
    expect(resolveServerLaunch({}, { ...untrusted, bundledPython: '/ws/two/venv/bin/python' }).source).not.toBe('bundled');
  });

  it('runs other CLI calls (models list) with the same interpreter', () => {
    const launch = resolveServerLaunch({}, { ...env(), bundledPython: '/gs/venv/bin/python' });
    expect(cliInvocation(launch, ['models', 'list'])).toEqual({ command: '/gs/venv/bin/python', args: ['-m', 'offpilot', 'models', 'list'] });
  });
});
