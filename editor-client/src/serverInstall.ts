// Installs the server shipped in bundled/ (see bundledServer.ts) on first use, under a cancellable
// progress notification; no terminal, no network.
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import * as vscode from 'vscode';
import {
  BUNDLE_DIR, BundleManifest, installEnvironment, InstallLayout, installLayout, installSteps, InstallStamp, isInstalled,
  MANIFEST_FILE, parseManifest, pipProgress, stagingLayout,
} from './bundledServer';
import { findInterpreter, Interpreter, InterpreterProbe, noInterpreterMessage, parseVersion, VERSION_SCRIPT } from './pythonInterpreter';

export const REINSTALL_COMMAND = 'offpilot.reinstallServer';

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && isExecutable(path.join(dir, name))) {
      return path.join(dir, name);
    }
  }
  return undefined;
}

/** The interpreter selected in the Python extension, through its public API, if it is installed. */
async function pythonExtensionInterpreter(): Promise<string | undefined> {
  // In an untrusted workspace the selection may be a program inside that workspace: not run.
  if (!vscode.workspace.isTrusted) {
    return undefined;
  }
  const extension = vscode.extensions.getExtension('ms-python.python');
  if (extension === undefined) {
    return undefined;
  }
  const api = (extension.isActive ? extension.exports : await extension.activate()) as {
    environments?: {
      getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
      resolveEnvironment(env: { path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    };
  } | undefined;
  const environments = api?.environments;
  if (environments === undefined) {
    return undefined;
  }
  const active = environments.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
  if (active === undefined) {
    return undefined;
  }
  const resolved = await environments.resolveEnvironment(active);
  return resolved?.executable?.uri?.fsPath ?? active.path;
}

const interpreterProbe: InterpreterProbe = {
  fromPythonExtension: pythonExtensionInterpreter,
  findOnPath,
  version: (command) => new Promise((resolve) => {
    execFile(command, ['-c', VERSION_SCRIPT], { timeout: 15_000, env: { ...process.env, PYTHONNOUSERSITE: '1' } },
      (error, stdout, stderr) => {
        if (error) {
          resolve({ error: (stderr || error.message).trim().split('\n').pop() ?? 'does not run' });
          return;
        }
        resolve(parseVersion(stdout) ?? { error: `unexpected output ${JSON.stringify(stdout.slice(0, 40))}` });
      });
  }),
};

class Cancelled extends Error {}

/** The bundled server of this .vsix (none in the universal .vsix) and its install. */
export class BundledServer {
  readonly manifest: BundleManifest | undefined;
  private readonly bundleDir: string;
  private readonly layout: InstallLayout | undefined;
  private running: Promise<string | undefined> | undefined;

  constructor(extensionPath: string, storagePath: string, private readonly output: vscode.LogOutputChannel) {
    this.bundleDir = path.join(extensionPath, BUNDLE_DIR);
    let text: string | undefined;
    try {
      text = fs.readFileSync(path.join(this.bundleDir, MANIFEST_FILE), 'utf8');
    } catch {
      text = undefined;  // the universal .vsix: nothing bundled
    }
    if (text !== undefined) {
      const parsed = parseManifest(text);
      if ('error' in parsed) {
        output.error(`${BUNDLE_DIR}/${MANIFEST_FILE}: ${parsed.error}; the bundled server is not used`);
      } else {
        this.manifest = parsed;
        this.layout = installLayout(storagePath, parsed, process.platform);
      }
    }
  }

  get available(): boolean {
    return this.manifest !== undefined;
  }

  /** The installed server's interpreter, when this bundle is installed. */
  installedPython(): string | undefined {
    if (this.manifest === undefined || this.layout === undefined) {
      return undefined;
    }
    let stamp: string | undefined;
    try {
      stamp = fs.readFileSync(this.layout.stamp, 'utf8');
    } catch {
      stamp = undefined;
    }
    return isInstalled(stamp, this.manifest) && isExecutable(this.layout.python) ? this.layout.python : undefined;
  }

  /** The installed server's interpreter; installs it first when needed. Undefined: not installed (and said why). */
  ensureInstalled(force = false): Promise<string | undefined> {
    if (!force) {
      const python = this.installedPython();
      if (python !== undefined) {
        return Promise.resolve(python);
      }
    }
    this.running ??= this.install(force).finally(() => { this.running = undefined; });
    return this.running;
  }

  private async install(force: boolean): Promise<string | undefined> {
    const manifest = this.manifest;
    const layout = this.layout;
    if (manifest === undefined || layout === undefined) {
      return undefined;
    }
    const search = await findInterpreter(interpreterProbe, process.platform, manifest.pythons);
    for (const r of search.rejected) {
      this.output.info(`bundled server: not using ${r.command}: ${r.reason}`);
    }
    if (search.found === undefined) {
      const message = noInterpreterMessage(search, manifest.pythons);
      this.output.error(message);
      void vscode.window.showErrorMessage(message, 'Show Logs').then((choice) => {
        if (choice === 'Show Logs') {
          this.output.show(true);
        }
      });
      return undefined;
    }
    const python = search.found;
    this.output.info(`bundled server: installing ${manifest.requirement} (${manifest.id}) with ${python.command} ` +
      `(Python ${python.version.join('.')}, from ${python.source}) into ${layout.root}`);
    const staging = stagingLayout(layout, `${process.pid}-${Date.now()}`, process.platform);
    const started = Date.now();
    try {
      await vscode.window.withProgress({
        location: vscode.ProgressLocation.Notification,
        title: 'Offpilot: setting up the server (once)',
        cancellable: true,
      }, (progress, token) => this.runSteps(python, staging, manifest, progress, token));
      const stamp: InstallStamp = { id: manifest.id, python: python.command, pythonVersion: python.version.join('.'), installedAt: new Date().toISOString() };
      fs.writeFileSync(staging.stamp, JSON.stringify(stamp, null, 2));
      if (force) {
        fs.rmSync(layout.root, { recursive: true, force: true });
      }
      try {
        fs.renameSync(staging.root, layout.root);
      } catch (error) {
        // Another window finished first: keep its install.
        if (!isInstalled(readOrUndefined(layout.stamp), manifest)) {
          throw error;
        }
        fs.rmSync(staging.root, { recursive: true, force: true });
      }
      this.output.info(`bundled server: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      this.removeOlderInstalls(layout);
      return this.installedPython();
    } catch (error) {
      fs.rmSync(staging.root, { recursive: true, force: true });
      if (error instanceof Cancelled) {
        this.output.info('bundled server: setup cancelled');
        void vscode.window.showInformationMessage('Offpilot: server setup cancelled. Run "Offpilot: Restart Server" to set it up.');
        return undefined;
      }
      const reason = error instanceof Error ? error.message : String(error);
      this.output.error(`bundled server: setup failed: ${reason}`);
      void vscode.window.showErrorMessage(`Offpilot: setting up the server failed: ${reason}`, 'Retry', 'Show Logs').then((choice) => {
        if (choice === 'Retry') {
          void vscode.commands.executeCommand(REINSTALL_COMMAND);
        } else if (choice === 'Show Logs') {
          this.output.show(true);
        }
      });
      return undefined;
    }
  }

  private async runSteps(python: Interpreter, staging: InstallLayout, manifest: BundleManifest,
    progress: vscode.Progress<{ message?: string; increment?: number }>, token: vscode.CancellationToken): Promise<void> {
    fs.mkdirSync(staging.root, { recursive: true });
    const env = installEnvironment(process.env, os.devNull);
    const wheelCount = countWheels(path.join(this.bundleDir, manifest.wheels));
    for (const step of installSteps(python.command, staging, this.bundleDir, manifest, process.platform)) {
      progress.report({ message: step.label });
      this.output.info(`bundled server: ${step.label}: ${[step.command, ...step.args].join(' ')}`);
      let reported = 0;
      const perPackage = step.weight / Math.max(1, wheelCount);
      await this.run(step.command, step.args, env, token, (line) => {
        const seen = pipProgress(line);
        if (seen !== undefined && 'package' in seen && reported + perPackage < step.weight) {
          reported += perPackage;
          progress.report({ message: `${step.label}: ${seen.package}`, increment: perPackage });
        } else if (seen !== undefined && 'installing' in seen) {
          progress.report({ message: `${step.label}: unpacking ${seen.installing} packages` });
        }
      });
      progress.report({ increment: step.weight - reported });
    }
  }

  private run(command: string, args: string[], env: NodeJS.ProcessEnv, token: vscode.CancellationToken,
    onLine: (line: string) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const tail: string[] = [];
      const take = (line: string) => {
        this.output.trace(`[setup] ${line}`);
        tail.push(line);
        if (tail.length > 20) {
          tail.shift();
        }
        onLine(line);
      };
      readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', take);
      readline.createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', take);
      const cancel = token.onCancellationRequested(() => child.kill());
      child.on('error', (error) => { cancel.dispose(); reject(error); });
      child.on('close', (code, signal) => {
        cancel.dispose();
        if (token.isCancellationRequested) {
          reject(new Cancelled());
        } else if (code === 0) {
          resolve();
        } else {
          const last = tail.filter((l) => l.trim() !== '').slice(-3).join(' | ');
          reject(new Error(`${path.basename(command)} exited with ${code ?? signal}${last ? `: ${last}` : ''}`));
        }
      });
    });
  }

  private removeOlderInstalls(layout: InstallLayout): void {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(layout.parent);
    } catch {
      return;
    }
    for (const name of entries) {
      const full = path.join(layout.parent, name);
      // A staging folder is another window's install in progress, unless it is an hour old (a crash).
      const staleStaging = name.includes('.partial-') && Date.now() - statTime(full) > 3_600_000;
      if (full !== layout.root && (!name.includes('.partial-') || staleStaging)) {
        try {
          fs.rmSync(full, { recursive: true, force: true });
          this.output.info(`bundled server: removed the older install ${full}`);
        } catch (error) {
          this.output.warn(`bundled server: could not remove ${full}: ${String(error)}`);
        }
      }
    }
  }
}

function statTime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return Date.now();
  }
}

function readOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** How many packages one install unpacks (the folder holds one build per Python version). */
function countWheels(dir: string): number {
  try {
    const wheels = fs.readdirSync(dir).filter((f) => f.endsWith('.whl'));
    return new Set(wheels.map((f) => f.split('-')[0]!.toLowerCase())).size;
  } catch {
    return 40;
  }
}
