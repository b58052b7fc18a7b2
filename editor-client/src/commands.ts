// Every command the extension contributes, and the status bar menu.
import { execFile } from 'child_process';
import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';
import { Configuration } from './configuration';
import { ExplainController } from './explain';
import { EXPLAIN_ERROR, EXPLAIN_ERROR_SELECTION, EXPLAIN_PROBLEM, FIX_PROBLEM, isProblemArgument, problemLabel, readErrorSelection } from './errorText';
import { downloadModel } from './modelDownload';
import { parseModelsTable } from './modelList';
import { cliInvocation } from './serverCommand';
import { advertises, CodeTarget, EXPLAIN, GENERATE_TESTS, isCodeTarget, targetOf } from './serverCommands';
import { ServerProcess } from './serverProcess';
import { MODEL_SERVICE_REQUEST, serviceStatusLines } from './serviceStatus';
import { REINSTALL_COMMAND } from './serverInstall';
import { MENU_COMMAND, StatusBar } from './statusBar';
import { TestGenerator } from './testGeneration';

export const STATS_REQUEST = 'offpilot/stats';
const NOT_INSTALLED = ' · downloads when chosen';

export class Commands {
  constructor(
    private readonly server: ServerProcess,
    private readonly config: Configuration,
    private readonly statusBar: StatusBar,
    private readonly output: vscode.LogOutputChannel,
    private readonly explainer: ExplainController,
    private readonly testGenerator: TestGenerator,
  ) {}

  register(): vscode.Disposable[] {
    const reg = (id: string, fn: (...args: unknown[]) => unknown) => vscode.commands.registerCommand(id, fn);
    return [
      reg('offpilot.restartServer', () => this.server.restart()),
      reg('offpilot.showLogs', () => this.output.show(true)),
      reg('offpilot.showStats', () => this.showStats()),
      reg('offpilot.showModelService', () => this.showModelService()),
      reg('offpilot.openSettings', () => vscode.commands.executeCommand('workbench.action.openSettings', '@ext:offpilot.offpilot')),
      reg('offpilot.toggleCompletions', () => this.toggleCompletions()),
      reg('offpilot.toggleLanguage', (languageId?: unknown) => this.toggleLanguage(languageId)),
      reg('offpilot.toggleTriggerMode', () => this.toggleTriggerMode()),
      reg('offpilot.chooseModel', () => this.chooseModel('model')),
      reg('offpilot.chooseChatModel', () => this.chooseModel('chatModel')),
      reg(REINSTALL_COMMAND, () => this.server.reinstallBundled()),
      reg(MENU_COMMAND, () => this.showMenu()),
      reg('offpilot.explainSelection', () => this.fromEditor(EXPLAIN)),
      reg('offpilot.generateTestsForSelection', () => this.fromEditor(GENERATE_TESTS, 'symbol')),
      reg('offpilot.generateTestsForFile', () => this.fromEditor(GENERATE_TESTS, 'file')),
      reg(EXPLAIN_ERROR_SELECTION, () => this.explainSelectedError()),
    ];
  }

  /**
   * `executeCommand` middleware: the server's own commands (as run from its code actions) go
   * through the streaming/progress UI; anything else goes straight to the server.
   */
  async executeCommand(command: string, args: unknown[], next: (command: string, args: unknown[]) => unknown): Promise<unknown> {
    const client = this.server.running;
    const target = args[0];
    if (client !== undefined && isCodeTarget(target) && (command === EXPLAIN || command === GENERATE_TESTS)) {
      return this.runServerCommand(client, command, target);
    }
    if (client !== undefined && isProblemArgument(target) && (command === EXPLAIN_PROBLEM || command === FIX_PROBLEM)) {
      const what = command === FIX_PROBLEM ? 'Fix' : 'Explain';
      return this.explainer.runCommand(client, command, [target], `${what} the problem at ${problemLabel(target)}`);
    }
    return next(command, args);
  }

  private async runServerCommand(client: LanguageClient, command: string, target: CodeTarget): Promise<unknown> {
    if (command === EXPLAIN) {
      return this.explainer.run(client, target);
    }
    return this.testGenerator.run(client, target);
  }

  /** "Explain This Error": the selected traceback or panic, explained in the Explain panel. */
  private async explainSelectedError(): Promise<unknown> {
    const selected = await readErrorSelection();
    if (selected === undefined) {
      void vscode.window.showWarningMessage('Offpilot: select a traceback or panic in a terminal or an editor first.');
      return undefined;
    }
    const client = await this.readyClient();
    if (client === undefined) {
      return undefined;
    }
    if (!advertises(client, EXPLAIN_ERROR)) {
      void vscode.window.showWarningMessage('Offpilot: this server version does not offer Explain This Error. Update the offpilot package.');
      return undefined;
    }
    return this.explainer.runCommand(client, EXPLAIN_ERROR, [selected], 'Explain this error');
  }

  private async fromEditor(command: string, scope?: 'symbol' | 'file'): Promise<unknown> {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      void vscode.window.showWarningMessage('Offpilot: open a file and select some code first.');
      return undefined;
    }
    const client = await this.readyClient();
    if (client === undefined) {
      return undefined;
    }
    if (!advertises(client, command)) {
      const what = command === EXPLAIN ? 'Explain' : 'Generate Tests';
      void vscode.window.showWarningMessage(`Offpilot: this server version does not offer ${what}. Update the offpilot package.`);
      return undefined;
    }
    return this.runServerCommand(client, command, targetOf(client, editor, scope));
  }

  private async readyClient(): Promise<LanguageClient | undefined> {
    let client = this.server.running;
    if (client === undefined && (this.server.connectionState === 'starting' || this.server.connectionState === 'restarting')) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { sub.dispose(); resolve(); }, 20_000);
        const sub = this.server.onDidChangeState((state) => {
          if (state === 'running' || state === 'failed' || state === 'stopped') {
            clearTimeout(timer);
            sub.dispose();
            resolve();
          }
        });
      });
      client = this.server.running;
    }
    if (client === undefined) {
      const choice = await vscode.window.showErrorMessage('Offpilot: the server is not running.', 'Restart Server', 'Show Logs');
      if (choice === 'Restart Server') {
        await this.server.restart();
      } else if (choice === 'Show Logs') {
        this.output.show(true);
      }
    }
    return client;
  }

  private async showStats(): Promise<unknown> {
    const client = await this.readyClient();
    if (client === undefined) {
      return undefined;
    }
    const stats: unknown = await client.sendRequest(STATS_REQUEST, {});
    this.output.info(`offpilot/stats ${JSON.stringify(stats)}`);
    this.output.show(true);
    return stats;
  }

  /** What `offpilot models status` shows (service, models, clients, memory, queue), as a list. */
  private async showModelService(): Promise<unknown> {
    const client = await this.readyClient();
    if (client === undefined) {
      return undefined;
    }
    let report: unknown;
    try {
      report = await client.sendRequest(MODEL_SERVICE_REQUEST, {});
    } catch (err) {
      report = { running: false, message: `the server did not answer: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.output.info(`${MODEL_SERVICE_REQUEST} ${JSON.stringify(report)}`);
    await vscode.window.showQuickPick(serviceStatusLines(report), { title: 'Offpilot: shared model service', matchOnDetail: true });
    return report;
  }

  private async toggleCompletions(): Promise<void> {
    const enabled = !this.config.completionsEnabled;
    await this.config.setCompletionsEnabled(enabled);
    this.statusBar.refresh();
    void vscode.window.setStatusBarMessage(`Offpilot: inline completions ${enabled ? 'on' : 'off'}`, 3000);
  }

  private async toggleTriggerMode(): Promise<void> {
    const mode = this.config.triggerMode === 'manual' ? 'automatic' : 'manual';
    await this.config.setTriggerMode(mode);
    this.statusBar.refresh();
    void vscode.window.setStatusBarMessage(mode === 'manual'
      ? 'Offpilot: suggestions only when asked (Alt+\\)' : 'Offpilot: suggestions as you type', 3000);
  }

  private async toggleLanguage(languageId?: unknown): Promise<void> {
    const language = typeof languageId === 'string' ? languageId : vscode.window.activeTextEditor?.document.languageId;
    if (language === undefined) {
      void vscode.window.showWarningMessage('Offpilot: open a file to toggle completions for its language.');
      return;
    }
    const enabled = await this.config.toggleLanguage(language);
    this.statusBar.refresh();
    void vscode.window.setStatusBarMessage(`Offpilot: inline completions for ${language} ${enabled ? 'on' : 'off'}`, 3000);
  }

  /** Profiles from `offpilot models list` that suit `role` ("completion" or "chat"). */
  private async listProfiles(role: string): Promise<vscode.QuickPickItem[]> {
    const launch = this.server.launch;
    if (launch === undefined || !launch.found) {
      return [];
    }
    const { command, args } = cliInvocation(launch, ['models', 'list']);
    const stdout = await new Promise<string>((resolve) => {
      execFile(command, args, { timeout: 15_000 }, (error, out) => resolve(error ? '' : out));
    });
    return parseModelsTable(stdout).filter((row) => row.roles === '' || row.roles.includes(role)).map((row) => ({
      label: row.name,
      description: `${row.size}${row.installed ? ' · installed' : NOT_INSTALLED}`,
      detail: row.roles ? `roles: ${row.roles}` : undefined,
    }));
  }

  /** The model picker for the completion model (`model`) or the Explain / Generate Tests model (`chatModel`). */
  private async chooseModel(setting: 'model' | 'chatModel'): Promise<void> {
    const chat = setting === 'chatModel';
    const BROWSE = '$(folder-opened) Choose a .gguf file…';
    const ENTER = '$(edit) Enter a profile name or path…';
    const DEFAULT = chat ? '$(link) Same as the completion model' : '$(home) Embedded default';
    const pick = vscode.window.createQuickPick();
    pick.title = chat ? 'Offpilot: model for Explain and Generate Tests' : 'Offpilot: completion model';
    pick.placeholder = `Current: ${String(this.config.reader()(setting) || (chat ? 'the completion model' : 'embedded default'))}`;
    pick.busy = true;
    const fixed: vscode.QuickPickItem[] = [
      { label: DEFAULT, description: chat ? undefined : 'Gemma 3 270M, no download' }, { label: BROWSE }, { label: ENTER }];
    pick.items = fixed;
    pick.show();
    void this.listProfiles(chat ? 'chat' : 'completion').then((profiles) => {
      pick.items = profiles.length > 0
        ? [...fixed, { label: 'Profiles', kind: vscode.QuickPickItemKind.Separator }, ...profiles]
        : fixed;
      pick.busy = false;
    });
    let needsDownload = false;
    const chosen = await new Promise<string | undefined>((resolve) => {
      pick.onDidAccept(() => {
        needsDownload = pick.selectedItems[0]?.description?.endsWith(NOT_INSTALLED) ?? false;
        resolve(pick.selectedItems[0]?.label);
        pick.hide();
      });
      pick.onDidHide(() => resolve(undefined));
    });
    pick.dispose();
    let model: string | undefined;
    if (chosen === DEFAULT) {
      model = '';
    } else if (chosen === BROWSE) {
      const files = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'GGUF models': ['gguf'] }, title: 'Offpilot: choose a model' });
      model = files?.[0]?.fsPath;
    } else if (chosen === ENTER) {
      model = await vscode.window.showInputBox({ title: 'Offpilot: model', prompt: 'A profile name (see `offpilot models list`), a .gguf path or owner/repo/file.gguf' });
    } else if (chosen !== undefined) {
      model = chosen;
      const client = this.server.running;
      if (needsDownload && client !== undefined && await downloadModel(client, chosen) === undefined) {
        return; // not downloaded (cancelled or failed, and said so): keep the current model
      }
    }
    if (model !== undefined) {
      await this.config.setModel(model.trim(), setting);
      const shown = model.trim() || (chat ? 'same as the completion model' : 'embedded default');
      void vscode.window.setStatusBarMessage(`Offpilot: ${chat ? 'chat model' : 'model'} ${shown}`, 3000);
    }
  }

  private async showMenu(): Promise<void> {
    const language = vscode.window.activeTextEditor?.document.languageId;
    const enabled = this.config.completionsEnabled;
    const items: (vscode.QuickPickItem & { command: string; args?: unknown[] })[] = [
      { label: enabled ? '$(circle-slash) Disable inline completions' : '$(check) Enable inline completions', command: 'offpilot.toggleCompletions' },
    ];
    if (language !== undefined) {
      const off = this.config.disabledLanguages.includes(language);
      items.push({ label: off ? `$(check) Enable completions for ${language}` : `$(circle-slash) Disable completions for ${language}`, command: 'offpilot.toggleLanguage', args: [language] });
    }
    items.push(this.config.triggerMode === 'manual'
      ? { label: '$(zap) Suggest as you type', description: 'now: only on Alt+\\', command: 'offpilot.toggleTriggerMode' }
      : { label: '$(keyboard) Suggest only when asked', description: 'Alt+\\; saves CPU', command: 'offpilot.toggleTriggerMode' });
    const status = this.statusBar.serverStatus;
    if (this.statusBar.starterModel) {
      items.unshift({ label: '$(cloud-download) Get a better model…', description: 'the built-in Gemma 3 270M is small',
        command: 'offpilot.chooseModel' });
    }
    items.push(
      { label: '$(symbol-class) Choose completion model…', description: status?.model, command: 'offpilot.chooseModel' },
      { label: '$(comment-discussion) Choose model for Explain and tests…', description: String(this.config.reader()('chatModel') || ''),
        command: 'offpilot.chooseChatModel' },
      { label: '$(gear) Open settings', command: 'offpilot.openSettings' },
      { label: '$(output) Show logs', command: 'offpilot.showLogs' },
      { label: '$(graph) Show server stats', command: 'offpilot.showStats' },
      { label: '$(server-process) Model service status', description: 'models, clients, memory, queue', command: 'offpilot.showModelService' },
      { label: '$(debug-restart) Restart server', command: 'offpilot.restartServer' },
    );
    if (this.server.launch?.source === 'bundled') {
      items.push({ label: '$(tools) Reinstall the bundled server', command: REINSTALL_COMMAND });
    }
    const choice = await vscode.window.showQuickPick(items, { title: 'Offpilot', placeHolder: status?.message || undefined });
    if (choice !== undefined) {
      await vscode.commands.executeCommand(choice.command, ...(choice.args ?? []));
    }
  }
}
