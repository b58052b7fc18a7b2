// Finding the command that starts `offpilot serve`. Pure: the file system and PATH lookups are
// passed in, so every branch is unit-tested.
//
// Trust rule: in a workspace VS Code does not trust (Restricted Mode), nothing found in a
// workspace folder runs: no `.venv`/`venv`, no `${workspaceFolder}`, no relative path, no PATH
// entry inside a folder; the server then starts outside the workspace (`serverWorkingDirectory`).
import * as path from 'path';

export type LaunchSource = 'setting:server.command' | 'setting:server.pythonPath' | 'workspace-venv' | 'path'
  | 'bundled';

export interface ServerLaunch {
  command: string;
  args: string[];
  source: LaunchSource;
  /** False when nothing was found and the bare name `offpilot` is tried as a last resort. */
  found: boolean;
  /** Set when nothing may be started: why (an untrusted workspace offered only its own programs). */
  refused?: string;
  /** Candidates passed over because the workspace is not trusted, for the log. */
  skipped?: string[];
}

export interface LaunchSettings {
  command?: unknown;
  pythonPath?: unknown;
}

export interface DiscoveryEnvironment {
  workspaceFolders: readonly string[];
  /** `vscode.workspace.isTrusted`: false in Restricted Mode. */
  workspaceTrusted: boolean;
  platform: NodeJS.Platform;
  homeDir: string;
  isExecutable(file: string): boolean;
  /** The full path of `name` on PATH, or undefined. */
  findOnPath(name: string): string | undefined;
  /** The interpreter of the server the platform .vsix installed (serverInstall.ts), if any. */
  bundledPython?: string;
}

const VENV_DIRS = ['.venv', 'venv'];

/** Expands `~` and `${workspaceFolder}` (the first folder) in a user-given path or argument. */
export function expandVariables(value: string, env: Pick<DiscoveryEnvironment, 'workspaceFolders' | 'homeDir'>): string {
  let out = value;
  const folder = env.workspaceFolders[0];
  if (folder !== undefined) {
    out = out.split('${workspaceFolder}').join(folder);
  }
  if (out === '~' || out.startsWith('~/')) {
    out = env.homeDir + out.slice(1);
  }
  return out;
}

/** The script a virtual environment in `root` installs for `offpilot`. */
export function venvExecutable(root: string, venv: string, platform: NodeJS.Platform): string {
  return platform === 'win32'
    ? path.win32.join(root, venv, 'Scripts', 'offpilot.exe')
    : path.posix.join(root, venv, 'bin', 'offpilot');
}

/**
 * Why `values` (a program and its arguments, before expansion) may not run in an untrusted
 * workspace, or undefined when they may: the program must be an absolute path outside every
 * workspace folder, and nothing may name `${workspaceFolder}`.
 */
export function untrustedObjection(values: readonly string[], env: DiscoveryEnvironment): string | undefined {
  if (values.some((v) => v.includes('${workspaceFolder}'))) {
    return 'it names ${workspaceFolder}';
  }
  const program = expandVariables(values[0] ?? '', env);
  if (!pathApi(env.platform).isAbsolute(program)) {
    return 'it is not an absolute path';
  }
  const inside = folderHolding(program, env);
  return inside !== undefined ? `it is inside the workspace folder ${inside}` : undefined;
}

function pathApi(platform: NodeJS.Platform): typeof path.posix {
  return platform === 'win32' ? path.win32 : path.posix;
}

/** The workspace folder that contains (or is) the absolute path `file`, if any. */
function folderHolding(file: string, env: Pick<DiscoveryEnvironment, 'workspaceFolders' | 'platform'>): string | undefined {
  const p = pathApi(env.platform);
  return env.workspaceFolders.find((folder) => {
    const rel = p.relative(folder, file);
    return rel === '' || (rel !== '..' && !rel.startsWith(`..${p.sep}`) && !p.isAbsolute(rel));
  });
}

/**
 * Order: `offpilot.server.command` (a non-empty string array), then `offpilot.server.pythonPath`
 * (`python -m offpilot serve`), then `.venv`/`venv` of each workspace folder, then `offpilot` on PATH.
 * In an untrusted workspace a candidate that `untrustedObjection` rejects is passed over, and
 * the workspace folders are not searched.
 */
export function resolveServerLaunch(settings: LaunchSettings, env: DiscoveryEnvironment): ServerLaunch {
  const skipped: string[] = [];
  const allowed = (what: string, values: readonly string[]): boolean => {
    const objection = env.workspaceTrusted ? undefined : untrustedObjection(values, env);
    if (objection !== undefined) {
      skipped.push(`${what} (${values.join(' ')}): ${objection}`);
    }
    return objection === undefined;
  };
  const done = (launch: ServerLaunch): ServerLaunch => (skipped.length > 0 ? { ...launch, skipped } : launch);
  const command = settings.command;
  if (Array.isArray(command) && command.length > 0 && command.every((x) => typeof x === 'string') &&
      (command[0] as string).trim() !== '' && allowed('offpilot.server.command', command as string[])) {
    const [head, ...rest] = (command as string[]).map((x) => expandVariables(x, env));
    return done({ command: head!, args: rest, source: 'setting:server.command', found: true });
  }
  if (typeof settings.pythonPath === 'string' && settings.pythonPath.trim() !== '' &&
      allowed('offpilot.server.pythonPath', [settings.pythonPath.trim()])) {
    return done({
      command: expandVariables(settings.pythonPath.trim(), env),
      args: ['-m', 'offpilot', 'serve'],
      source: 'setting:server.pythonPath',
      found: true,
    });
  }
  for (const folder of env.workspaceTrusted ? env.workspaceFolders : []) {
    for (const venv of VENV_DIRS) {
      const candidate = venvExecutable(folder, venv, env.platform);
      if (env.isExecutable(candidate)) {
        return done({ command: candidate, args: ['serve'], source: 'workspace-venv', found: true });
      }
    }
  }
  const onPath = env.findOnPath(env.platform === 'win32' ? 'offpilot.exe' : 'offpilot');
  if (onPath !== undefined && allowed('offpilot on PATH', [onPath])) {
    return done({ command: onPath, args: ['serve'], source: 'path', found: true });
  }
  // Last: the server shipped inside the platform .vsix, once installed (outside the workspace).
  if (env.bundledPython !== undefined && allowed('the bundled server', [env.bundledPython])) {
    return done({ command: env.bundledPython, args: ['-m', 'offpilot', 'serve'], source: 'bundled', found: true });
  }
  if (onPath !== undefined) {
    return done({ command: onPath, args: ['serve'], source: 'path', found: false,
      refused: `the workspace is not trusted and the only offpilot found is ${onPath}, inside it` });
  }
  if (!env.workspaceTrusted) {
    // The bare name would be looked up on PATH again by the system, relative entries included.
    return done({ command: 'offpilot', args: ['serve'], source: 'path', found: false,
      refused: 'no offpilot server found outside the workspace, and the workspace is not trusted' });
  }
  return done({ command: 'offpilot', args: ['serve'], source: 'path', found: false });
}

/**
 * The server's working directory: the first workspace folder when trusted; else the home folder
 * (the file-system root if the home folder is in the workspace), so that nothing relative picks
 * up the workspace's files (`python -m` puts the working directory first on `sys.path`).
 */
export function serverWorkingDirectory(env: Pick<DiscoveryEnvironment, 'workspaceFolders' | 'workspaceTrusted' | 'homeDir' | 'platform'>): string | undefined {
  if (env.workspaceTrusted) {
    return env.workspaceFolders[0];
  }
  return folderHolding(env.homeDir, env) === undefined ? env.homeDir : pathApi(env.platform).parse(env.homeDir).root;
}

/** A shell-like one-line rendering for logs and messages. */
export function describeLaunch(launch: ServerLaunch): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [launch.command, ...launch.args].map(quote).join(' ');
}

/** The same launch with its trailing `serve` replaced by other CLI arguments (`models list`). */
export function cliInvocation(launch: ServerLaunch, cliArgs: string[]): { command: string; args: string[] } {
  const args = [...launch.args];
  if (args[args.length - 1] === 'serve') {
    args.pop();
  }
  return { command: launch.command, args: [...args, ...cliArgs] };
}
