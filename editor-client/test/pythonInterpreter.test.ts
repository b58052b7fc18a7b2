// Finding a Python >= 3.11 for the bundled server. The probe is a FAKE (a table of interpreters)
// except in the last test, which runs the real version script with this machine's python3.
import { execFileSync } from 'child_process';
import { describe, expect, it } from 'vitest';
import {
  findInterpreter, InterpreterProbe, isSupported, noInterpreterMessage, parseVersion, pathNames, VERSION_SCRIPT,
} from '../src/pythonInterpreter';

function probe(onPath: Record<string, string>, versions: Record<string, [number, number] | string>, selected?: string): InterpreterProbe & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    fromPythonExtension: async () => selected,
    findOnPath: (name) => onPath[name],
    version: async (command) => {
      asked.push(command);
      const v = versions[command];
      return v === undefined ? { error: 'not found' } : typeof v === 'string' ? { error: v } : v;
    },
  };
}

describe('findInterpreter', () => {
  it("prefers the Python extension's selection", async () => {
    const p = probe({ python3: '/usr/bin/python3' }, { '/proj/.venv/bin/python': [3, 12], '/usr/bin/python3': [3, 11] }, '/proj/.venv/bin/python');
    const search = await findInterpreter(p, 'linux');
    expect(search.found).toEqual({ command: '/proj/.venv/bin/python', source: 'python-extension', version: [3, 12] });
    expect(p.asked).toEqual(['/proj/.venv/bin/python']);
  });

  it('then tries python3.13, 3.12, 3.11 and python3 on PATH, newest first', async () => {
    const onPath = { 'python3.12': '/usr/bin/python3.12', 'python3.11': '/usr/bin/python3.11', python3: '/usr/bin/python3' };
    const search = await findInterpreter(probe(onPath, { '/usr/bin/python3.12': [3, 12], '/usr/bin/python3.11': [3, 11] }), 'linux');
    expect(search.found).toMatchObject({ command: '/usr/bin/python3.12', source: 'path' });
    expect(pathNames('linux')).toEqual(['python3.13', 'python3.12', 'python3.11', 'python3']);
  });

  it('skips interpreters that are too old, broken or not among the shipped versions', async () => {
    const p = probe({ 'python3.13': '/opt/py313', python3: '/usr/bin/python3' },
      { '/ext/old': [3, 10], '/opt/py313': [3, 13], '/usr/bin/python3': [3, 11] }, '/ext/old');
    const search = await findInterpreter(p, 'linux', ['3.11', '3.12']);
    expect(search.found?.command).toBe('/usr/bin/python3');
    expect(search.rejected).toEqual([
      { command: '/ext/old', reason: 'Python 3.10, needs 3.11, 3.12' },
      { command: '/opt/py313', reason: 'Python 3.13, needs 3.11, 3.12' },
    ]);
  });

  it('survives a failing Python extension and says what it tried', async () => {
    const p = probe({ python3: '/usr/bin/python3' }, { '/usr/bin/python3': 'exec format error' });
    p.fromPythonExtension = async () => { throw new Error('extension failed to activate'); };
    const search = await findInterpreter(p, 'linux');
    expect(search.found).toBeUndefined();
    const message = noInterpreterMessage(search, ['3.11', '3.12', '3.13']);
    expect(message).toContain('needs Python 3.11, 3.12, 3.13');
    expect(message).toContain('/usr/bin/python3 (exec format error)');
    expect(noInterpreterMessage({ rejected: [] })).toContain('None was found on PATH');
  });

  it('checks versions', () => {
    expect(isSupported([3, 11])).toBe(true);
    expect(isSupported([3, 10])).toBe(false);
    expect(isSupported([2, 7])).toBe(false);
    expect(isSupported([3, 14], ['3.11', '3.12', '3.13'])).toBe(false);
    expect(parseVersion('3.12\n')).toEqual([3, 12]);
    expect(parseVersion('Python 3.12')).toBeUndefined();
  });

  it('reads the version of a real interpreter with the probe script', () => {
    const out = execFileSync(process.env.OFFPILOT_PYTHON ?? 'python3', ['-c', VERSION_SCRIPT], { encoding: 'utf8' });
    const version = parseVersion(out);
    expect(version).toBeDefined();
    expect(version![0]).toBe(3);
  });
});
