// Reading and writing the `offpilot.*` settings through VS Code.
import * as vscode from 'vscode';
import {
  completionsWanted, inlineRequestWanted, serverSettings, SettingReader, toggledLanguages, triggerMode, TriggerMode,
} from './settings';
import { LaunchSettings } from './serverCommand';
import { withTrust } from './trust';

export const SECTION = 'offpilot';

export class Configuration {
  private section(scope?: vscode.ConfigurationScope): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION, scope);
  }

  reader(scope?: vscode.ConfigurationScope): SettingReader {
    const section = this.section(scope);
    return (name) => section.get(name);
  }

  /**
   * `initializationOptions` for the server: every server setting with its effective value, and
   * whether the workspace is trusted (in Restricted Mode the server runs none of its code).
   */
  initializationOptions(): Record<string, unknown> {
    return withTrust(serverSettings(this.reader()), vscode.workspace.isTrusted);
  }

  launchSettings(): LaunchSettings {
    const section = this.section();
    return { command: section.get('server.command'), pythonPath: section.get('server.pythonPath') };
  }

  get completionsEnabled(): boolean {
    return this.section().get<boolean>('completionsEnabled', true);
  }

  get disabledLanguages(): string[] {
    const value = this.section().get<unknown>('disabledLanguages');
    return Array.isArray(value) ? value.filter((x): x is string => typeof x === 'string') : [];
  }

  completionsWantedFor(document: vscode.TextDocument): boolean {
    return completionsWanted(this.reader(document), document.languageId);
  }

  /** Whether this inline completion request is sent (`offpilot.triggerMode`). */
  inlineRequestWantedFor(document: vscode.TextDocument, triggerKind: vscode.InlineCompletionTriggerKind): boolean {
    return inlineRequestWanted(this.reader(document), triggerKind === vscode.InlineCompletionTriggerKind.Automatic);
  }

  get triggerMode(): TriggerMode {
    return triggerMode(this.reader());
  }

  /** Whether the server is told where the cursor settles (`offpilot.warmup`). */
  warmupWantedFor(document: vscode.TextDocument): boolean {
    return this.section(document).get<boolean>('warmup', true) && this.completionsWantedFor(document);
  }

  async setCompletionsEnabled(enabled: boolean): Promise<void> {
    await this.section().update('completionsEnabled', enabled, this.target('completionsEnabled'));
  }

  async setTriggerMode(mode: TriggerMode): Promise<void> {
    await this.section().update('triggerMode', mode, this.target('triggerMode'));
  }

  async toggleLanguage(languageId: string): Promise<boolean> {
    const next = toggledLanguages(this.section().get('disabledLanguages'), languageId);
    await this.section().update('disabledLanguages', next, this.target('disabledLanguages'));
    return !next.includes(languageId);
  }

  async setModel(model: string, setting: 'model' | 'chatModel' = 'model'): Promise<void> {
    await this.section().update(setting, model, this.target(setting));
  }

  /** Writes where the value is set now (workspace or user), else the user settings. */
  private target(name: string): vscode.ConfigurationTarget {
    const info = this.section().inspect(name);
    if (info?.workspaceFolderValue !== undefined) {
      return vscode.ConfigurationTarget.WorkspaceFolder;
    }
    if (info?.workspaceValue !== undefined) {
      return vscode.ConfigurationTarget.Workspace;
    }
    return vscode.ConfigurationTarget.Global;
  }

  static affectsServer(event: vscode.ConfigurationChangeEvent): boolean {
    return event.affectsConfiguration(`${SECTION}.server`);
  }
}
