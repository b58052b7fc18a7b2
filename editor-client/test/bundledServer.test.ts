// The bundled server: manifest, install layout and steps (pure), and the install steps run for
// real (venv without pip, pip from the shipped pip, offline, against a folder of wheels) on a tiny
// wheel built here. The real server's bundle is installed by the code-server end-to-end test.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BundleManifest, installEnvironment, installLayout, installSteps, isInstalled, parseManifest, pipProgress, stagingLayout,
} from '../src/bundledServer';

const manifest: BundleManifest = {
  format: 1, id: '0.1.0-0123456789ab', target: 'linux-x64', requirement: 'offpilot[default-model]==0.1.0',
  pythons: ['3.11', '3.12', '3.13'], pip: 'pip/pip-25.1-py3-none-any.whl', wheels: 'wheels', model: true,
};

describe('parseManifest', () => {
  it('reads what scripts/bundle-server.sh writes', () => {
    expect(parseManifest(JSON.stringify(manifest))).toEqual(manifest);
    expect(parseManifest(JSON.stringify({ ...manifest, model: undefined }))).toMatchObject({ model: false });
  });

  it('rejects broken or unsafe manifests with a reason', () => {
    expect(parseManifest('{')).toMatchObject({ error: expect.stringContaining('not JSON') });
    expect(parseManifest('[]')).toMatchObject({ error: expect.stringContaining('format') });
    expect(parseManifest(JSON.stringify({ ...manifest, format: 2 }))).toMatchObject({ error: 'unknown format 2' });
    expect(parseManifest(JSON.stringify({ ...manifest, id: '' }))).toMatchObject({ error: '"id" is missing' });
    expect(parseManifest(JSON.stringify({ ...manifest, id: '../x' }))).toHaveProperty('error');
    expect(parseManifest(JSON.stringify({ ...manifest, wheels: '../../etc' }))).toHaveProperty('error');
    expect(parseManifest(JSON.stringify({ ...manifest, pip: '/usr/lib/pip.whl' }))).toHaveProperty('error');
    expect(parseManifest(JSON.stringify({ ...manifest, requirement: 'offpilot --index-url http://x' }))).toHaveProperty('error');
    expect(parseManifest(JSON.stringify({ ...manifest, pythons: ['3'] }))).toHaveProperty('error');
  });
});

describe('install layout and steps', () => {
  it('installs into <storage>/server/<id>, staged beside it', () => {
    const layout = installLayout('/gs', manifest, 'linux');
    expect(layout).toEqual({ root: '/gs/server/0.1.0-0123456789ab', venv: '/gs/server/0.1.0-0123456789ab/venv',
      python: '/gs/server/0.1.0-0123456789ab/venv/bin/python', stamp: '/gs/server/0.1.0-0123456789ab/installed.json', parent: '/gs/server' });
    expect(stagingLayout(layout, '42', 'linux').python).toBe('/gs/server/0.1.0-0123456789ab.partial-42/venv/bin/python');
    expect(installLayout('C:\\gs', manifest, 'win32').python).toBe('C:\\gs\\server\\0.1.0-0123456789ab\\venv\\Scripts\\python.exe');
  });

  it('creates a venv without pip, installs offline from the shipped wheels, then assembles the model', () => {
    const staging = stagingLayout(installLayout('/gs', manifest, 'linux'), '1', 'linux');
    const steps = installSteps('/usr/bin/python3.12', staging, '/ext/bundled', manifest, 'linux');
    expect(steps.map((s) => [s.command, ...s.args.slice(0, 3)])).toEqual([
      ['/usr/bin/python3.12', '-m', 'venv', '--without-pip'],
      [staging.python, '/ext/bundled/pip/pip-25.1-py3-none-any.whl/pip', 'install', '--no-index'],
      [staging.python, '-c', expect.stringContaining('assemble()')],
    ]);
    expect(steps[1]!.args).toContain('/ext/bundled/wheels');
    expect(steps[1]!.args.at(-1)).toBe('offpilot[default-model]==0.1.0');
    expect(steps.reduce((n, s) => n + s.weight, 0)).toBe(100);
    const noModel = installSteps('py', staging, '/b', { ...manifest, model: false }, 'linux');
    expect(noModel[2]!.args[1]).not.toContain('assemble');
    expect(noModel.reduce((n, s) => n + s.weight, 0)).toBe(100);
  });

  it('knows when this bundle is installed', () => {
    expect(isInstalled(JSON.stringify({ id: manifest.id, python: 'p', pythonVersion: '3.12', installedAt: '' }), manifest)).toBe(true);
    expect(isInstalled(JSON.stringify({ id: '0.0.9-x' }), manifest)).toBe(false);
    expect(isInstalled('garbage', manifest)).toBe(false);
    expect(isInstalled(undefined, manifest)).toBe(false);
  });

  it('keeps pip away from any index, configuration or user site', () => {
    const env = installEnvironment({ PATH: '/bin', PIP_INDEX_URL: 'http://x', pip_find_links: '/w', PYTHONPATH: '/p', HOME: '/h' }, '/dev/null');
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', PIP_CONFIG_FILE: '/dev/null', PYTHONNOUSERSITE: '1', PYTHONUNBUFFERED: '1' });
  });

  it("reads pip's progress lines", () => {
    expect(pipProgress('Processing ./bundled/wheels/tree_sitter_python-0.23.6-cp39-abi3-manylinux_2_17_x86_64.whl'))
      .toEqual({ package: 'tree-sitter-python' });
    expect(pipProgress('Processing /x/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl (from offpilot==0.1.0)')).toEqual({ package: 'llama-cpp-python' });
    expect(pipProgress('Processing /tmp/offpilot-bundle-1a/wheels/numpy-2.5.5-cp312-cp312-manylinux_2_28_x86_64.whl')).toEqual({ package: 'numpy' });
    expect(pipProgress('Installing collected packages: numpy, pygls, offpilot')).toEqual({ installing: 3 });
    expect(pipProgress('Successfully installed numpy-2.3.4')).toBeUndefined();
  });
});

// ---- the steps for real, on a tiny wheel -------------------------------------------------------
const python = process.env.OFFPILOT_PYTHON ?? 'python3';
let pipSite: string | undefined;
try {
  pipSite = execFileSync(python, ['-c', 'import os, pip; print(os.path.dirname(os.path.dirname(pip.__file__)))'], { encoding: 'utf8' }).trim();
} catch {
  pipSite = undefined;
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'offpilot-bundle-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(pipSite === undefined)('install steps, run for real', () => {
  it('install a wheel from the bundle offline, whatever PIP_* says', () => {
    const bundle = path.join(tmp, 'bundled');
    fs.mkdirSync(path.join(bundle, 'wheels'), { recursive: true });
    // pip, as shipped: `python <pip>/pip` runs pip's __main__ from the wheel (here: its unpacked folder)
    fs.symlinkSync(pipSite!, path.join(bundle, 'pipsite'));
    execFileSync(python, ['-c', `
import zipfile, sys
files = {
  "tinypkg/__init__.py": "VALUE = 42\\n",
  "tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: tinypkg\\nVersion: 1.0\\n",
  "tinypkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
files["tinypkg-1.0.dist-info/RECORD"] = "".join(f"{n},,\\n" for n in files) + "tinypkg-1.0.dist-info/RECORD,,\\n"
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, text in files.items():
        z.writestr(name, text)
`, path.join(bundle, 'wheels', 'tinypkg-1.0-py3-none-any.whl')]);
    const m: BundleManifest = { ...manifest, requirement: 'tinypkg==1.0', pip: 'pipsite', model: false };
    const staging = stagingLayout(installLayout(path.join(tmp, 'storage'), m, process.platform), 't', process.platform);
    fs.mkdirSync(staging.root, { recursive: true });
    // An index that does not exist and other find-links: the install must not use them.
    const env = installEnvironment({ ...process.env, PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_FIND_LINKS: '/nonexistent' }, os.devNull);
    const packages: string[] = [];
    for (const step of installSteps(python, staging, bundle, m, process.platform).slice(0, 2)) {
      const run = spawnSync(step.command, step.args, { env, encoding: 'utf8', timeout: 120_000 });
      expect(run.status, `${step.label}: ${run.stderr}`).toBe(0);
      for (const line of `${run.stdout}\n${run.stderr}`.split('\n')) {
        const seen = pipProgress(line);
        if (seen !== undefined && 'package' in seen) packages.push(seen.package);
      }
    }
    expect(packages).toEqual(['tinypkg']);
    expect(fs.existsSync(path.join(staging.venv, 'bin', 'pip'))).toBe(false);  // no pip in the venv
    expect(execFileSync(staging.python, ['-c', 'import tinypkg; print(tinypkg.VALUE)'], { encoding: 'utf8' }).trim()).toBe('42');
  }, 180_000);
});
