// Finding the command that starts `offpilot serve`. Pure: the file system and PATH lookups are
// passed in, so every branch is unit-tested.
import * as path from 'path';

export type LaunchSource = 'setting:server.command' | 'setting:server.pythonPath' | 'workspace-venv' | 'path'
  | 'bundled';

export interface ServerLaunch {
  command: string;
  args: string[];
  source: LaunchSource;
  /** False when nothing was found and the bare name `offpilot` is tried as a last resort. */
  found: boolean;
}

export interface LaunchSettings {
  command?: unknown;
  pythonPath?: unknown;
}

export interface DiscoveryEnvironment {
  workspaceFolders: readonly string[];
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
 * Order: `offpilot.server.command` (a non-empty string array), then `offpilot.server.pythonPath`
 * (`python -m offpilot serve`), then `.venv`/`venv` of each workspace folder, then `offpilot` on PATH.
 */
export function resolveServerLaunch(settings: LaunchSettings, env: DiscoveryEnvironment): ServerLaunch {
  const command = settings.command;
  if (Array.isArray(command) && command.length > 0 && command.every((x) => typeof x === 'string') &&
      (command[0] as string).trim() !== '') {
    const [head, ...rest] = (command as string[]).map((x) => expandVariables(x, env));
    return { command: head!, args: rest, source: 'setting:server.command', found: true };
  }
  if (typeof settings.pythonPath === 'string' && settings.pythonPath.trim() !== '') {
    return {
      command: expandVariables(settings.pythonPath.trim(), env),
      args: ['-m', 'offpilot', 'serve'],
      source: 'setting:server.pythonPath',
      found: true,
    };
  }
  for (const folder of env.workspaceFolders) {
    for (const venv of VENV_DIRS) {
      const candidate = venvExecutable(folder, venv, env.platform);
      if (env.isExecutable(candidate)) {
        return { command: candidate, args: ['serve'], source: 'workspace-venv', found: true };
      }
    }
  }
  const onPath = env.findOnPath(env.platform === 'win32' ? 'offpilot.exe' : 'offpilot');
  // Last: the server shipped inside the platform .vsix, once installed.
  if (onPath === undefined && env.bundledPython !== undefined) {
    return { command: env.bundledPython, args: ['-m', 'offpilot', 'serve'], source: 'bundled', found: true };
  }
  return { command: onPath ?? 'offpilot', args: ['serve'], source: 'path', found: onPath !== undefined };
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
