// Starting, restarting and stopping `offpilot serve` through vscode-languageclient.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  CloseAction, CloseHandlerResult, ErrorAction, ErrorHandlerResult, LanguageClient, LanguageClientOptions,
  Middleware, RevealOutputChannelOn, ServerOptions, State,
} from 'vscode-languageclient/node';
import * as readline from 'readline';
import { RestartBackoff } from './backoff';
import { LogLevel, parseServerLogLine } from './serverLog';
import { Configuration } from './configuration';
import { ConnectionState } from './statusFormat';
import {
  DiscoveryEnvironment, describeLaunch, resolveServerLaunch, ServerLaunch, serverWorkingDirectory,
} from './serverCommand';
import { MANAGE_TRUST, MANAGE_TRUST_COMMAND } from './trust';
import { BundledServer, REINSTALL_COMMAND } from './serverInstall';

export const CLIENT_ID = 'offpilot';
export const CLIENT_NAME = 'Offpilot';

export function discoveryEnvironment(): DiscoveryEnvironment {
  const isExecutable = (file: string): boolean => {
    try {
      fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  return {
    workspaceFolders: (vscode.workspace.workspaceFolders ?? [])
      .filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
    workspaceTrusted: vscode.workspace.isTrusted,
    platform: process.platform,
    homeDir: os.homedir(),
    isExecutable,
    findOnPath: (name) => {
      for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
        // (a relative entry would mean a different folder to the server, started elsewhere)
        if (path.isAbsolute(dir) && isExecutable(path.join(dir, name))) {
          return path.join(dir, name);
        }
      }
      return undefined;
    },
  };
}

/** Server log lines (stderr) into the channel at the level the server gave them. */
function pipeServerLog(input: NodeJS.ReadableStream, channel: vscode.LogOutputChannel): void {
  let level: LogLevel = 'info';
  readline.createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 }).on('line', (line) => {
    const parsed = parseServerLogLine(line, level);
    level = parsed.level;
    channel[parsed.level](`[server] ${parsed.text}`);
  });
}

/** Owns the language client; a manual restart replaces it with a fresh one. */
export class ServerProcess implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly backoff = new RestartBackoff();
  private pendingRestart: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private state: ConnectionState = 'stopped';
  private readonly stateEmitter = new vscode.EventEmitter<ConnectionState>();
  private readonly clientEmitter = new vscode.EventEmitter<LanguageClient>();
  private clientDisposables: vscode.Disposable[] = [];
  /** The launch used for the current client. */
  launch: ServerLaunch | undefined;

  /** Fires with each new client before it starts: register notification handlers here. */
  readonly onDidCreateClient = this.clientEmitter.event;
  readonly onDidChangeState = this.stateEmitter.event;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly config: Configuration,
    private readonly middleware: Middleware,
    /** The server shipped in a platform .vsix; installed on first use when no other is found. */
    private readonly bundle?: BundledServer,
  ) {}

  get connectionState(): ConnectionState {
    return this.state;
  }

  /** The client when the server is up, else undefined. */
  get running(): LanguageClient | undefined {
    return this.client?.isRunning() ? this.client : undefined;
  }

  async start(): Promise<void> {
    const discovery = discoveryEnvironment();
    let launch = resolveServerLaunch(this.config.launchSettings(), discovery);
    if (!launch.found && this.bundle?.available) {
      // Nothing installed outside the workspace: set up the server this .vsix ships (it lives in
      // the extension's storage, outside every workspace, so Restricted Mode allows it).
      this.setState('starting');
      const bundledPython = await this.bundle.ensureInstalled();
      if (bundledPython === undefined) {
        this.launch = launch;
        this.setState('failed');  // ensureInstalled said why
        return;
      }
      launch = resolveServerLaunch(this.config.launchSettings(), { ...discovery, bundledPython });
    }
    this.launch = launch;
    for (const skipped of launch.skipped ?? []) {
      this.output.warn(`Restricted Mode: not running ${skipped}`);
    }
    if (launch.refused !== undefined) {
      this.refuse(launch.refused);
      return;
    }
    this.output.info(`starting the server: ${describeLaunch(launch)} (from ${launch.source})`);
    const cwd = serverWorkingDirectory(discovery);
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      options: { cwd, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      stdioOptions: {
        stdout: (input, channel) => pipeServerLog(input, channel),  // only used by non-stdio transports
        stderr: (input, channel) => pipeServerLog(input, channel),
      },
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => this.config.initializationOptions(),
      middleware: this.middleware,
      errorHandler: {
        // Logged in the output; the restart policy below decides what the user sees.
        error: (_error, _message, count): ErrorHandlerResult =>
          ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true }),
        closed: () => this.onClosed(),
      },
    };
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    // Tells the server that this client shows explanations in its own panel (so no
    // window/showDocument of the Markdown file) and reads `offpilot/stream`.
    client.registerFeature({
      fillClientCapabilities: (capabilities) => {
        capabilities.experimental = { ...(capabilities.experimental as object | undefined), offpilot: { explainPanel: true, streams: true } };
      },
      initialize: () => undefined,
      getState: () => ({ kind: 'static' }),
      clear: () => undefined,
    });
    this.client = client;
    this.clientDisposables.push(client.onDidChangeState((e) => {
      if (this.client !== client) {
        return;
      }
      if (e.newState === State.Running) {
        this.backoff.noteStarted();
        this.setState('running');
      } else if (e.newState === State.Starting && this.state !== 'restarting') {
        this.setState('starting');
      } else if (e.newState === State.Stopped && this.state === 'running') {
        this.setState('stopped');
      }
    }));
    this.clientEmitter.fire(client);
    this.setState('starting');
    try {
      await client.start();
    } catch (error) {
      if (this.client !== client) {
        return;
      }
      this.setState('failed');
      const reason = error instanceof Error ? error.message : String(error);
      this.output.error(`the server did not start: ${reason}`);
      const hint = launch.found
        ? `Offpilot: the server did not start (${describeLaunch(launch)}): ${reason}`
        : 'Offpilot: no `offpilot` server found. Install it into the workspace .venv, put it on PATH, ' +
          'or set "offpilot.server.command" / "offpilot.server.pythonPath" (the linux-x64 build of the ' +
          'extension brings its own server).';
      const actions = launch.source === 'bundled' ? ['Reinstall Server', 'Show Logs'] : ['Open Settings', 'Show Logs'];
      void vscode.window.showErrorMessage(hint, ...actions).then((choice) => {
        if (choice === 'Reinstall Server') {
          void vscode.commands.executeCommand(REINSTALL_COMMAND);
        } else if (choice === 'Open Settings') {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'offpilot.server');
        } else if (choice === 'Show Logs') {
          this.output.show(true);
        }
      });
    }
  }

  /** Nothing may start in this untrusted workspace: say why and how to change it. */
  private refuse(reason: string): void {
    this.setState('failed');
    this.output.error(`the server was not started: ${reason}`);
    void vscode.window.showWarningMessage(
      `Offpilot: the server was not started: ${reason}. Trust the workspace, or install offpilot outside it ` +
      '(on PATH, or set "offpilot.server.command" in your user settings).',
      MANAGE_TRUST, 'Open Settings').then((choice) => {
      if (choice === MANAGE_TRUST) {
        void vscode.commands.executeCommand(MANAGE_TRUST_COMMAND);
      } else if (choice === 'Open Settings') {
        void vscode.commands.executeCommand('workbench.action.openSettings', 'offpilot.server');
      }
    });
  }

  /** Stops the current server (if any) and starts a fresh one. */
  async restart(): Promise<void> {
    this.backoff.reset();
    if (this.pendingRestart !== undefined) {
      clearTimeout(this.pendingRestart.timer);
      this.pendingRestart.resolve();
      this.pendingRestart = undefined;
    }
    await this.stopClient();
    await this.start();
  }

  /** Installs the bundled server afresh (a broken or changed install) and starts it. */
  async reinstallBundled(): Promise<void> {
    if (this.bundle?.available !== true) {
      void vscode.window.showInformationMessage('Offpilot: this build of the extension has no bundled server ' +
        '(install the platform-specific .vsix, or point "offpilot.server.command" at an installed server).');
      return;
    }
    this.backoff.reset();
    await this.stopClient();
    if (await this.bundle.ensureInstalled(true) !== undefined) {
      await this.start();
    } else {
      this.setState('failed');
    }
  }

  private async onClosed(): Promise<CloseHandlerResult> {
    const delay = this.backoff.noteCrash();
    if (delay === undefined) {
      this.setState('failed');
      return {
        action: CloseAction.DoNotRestart,
        message: 'The Offpilot server stopped too often in the last 3 minutes and stays down. ' +
          'See the "Offpilot" output, then run "Offpilot: Restart Server".',
      };
    }
    this.setState('restarting');
    this.output.info(`the server exited; restarting in ${(delay / 1000).toFixed(1)} s`);
    await new Promise<void>((resolve) => {
      this.pendingRestart = { timer: setTimeout(resolve, delay), resolve };
    });
    this.pendingRestart = undefined;
    return { action: CloseAction.Restart, handled: true };
  }

  private async stopClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const d of this.clientDisposables.splice(0)) {
      d.dispose();
    }
    if (client === undefined) {
      return;
    }
    this.setState('stopped');
    try {
      if (client.needsStop()) {
        await client.stop(3000);
      }
    } catch (error) {
      this.output.error(`stopping the server: ${String(error)}`);
    }
    try {
      await client.dispose(1000);
    } catch {
      // already stopped or never started
    }
  }

  private setState(state: ConnectionState): void {
    if (this.state !== state) {
      this.state = state;
      this.stateEmitter.fire(state);
    }
  }

  async stop(): Promise<void> {
    await this.stopClient();
  }

  dispose(): void {
    void this.stopClient();
    this.stateEmitter.dispose();
    this.clientEmitter.dispose();
  }
}
