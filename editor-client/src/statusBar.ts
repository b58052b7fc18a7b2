// The status bar item: model name and server state; a click opens the Offpilot menu.
import * as vscode from 'vscode';
import { ConnectionState, formatStatus, isStarterModel, ServerStatus } from './statusFormat';
import { Configuration } from './configuration';

export const MENU_COMMAND = 'offpilot.showMenu';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: ServerStatus | undefined;
  private connection: ConnectionState = 'starting';

  constructor(private readonly config: Configuration) {
    this.item = vscode.window.createStatusBarItem('offpilot.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Offpilot';
    this.item.command = MENU_COMMAND;
    this.refresh();
    this.item.show();
  }

  get serverStatus(): ServerStatus | undefined {
    return this.status;
  }

  setServerStatus(status: unknown): void {
    if (status !== null && typeof status === 'object' && typeof (status as ServerStatus).state === 'string') {
      this.status = status as ServerStatus;
      this.refresh();
    }
  }

  setConnection(state: ConnectionState): void {
    this.connection = state;
    if (state !== 'running') {
      this.status = undefined;
    }
    this.refresh();
  }

  /** Whether the completion model is the small embedded default (offer a better one). */
  get starterModel(): boolean {
    const read = this.config.reader();
    return isStarterModel(this.status?.model, read('model'), read('backend'));
  }

  refresh(): void {
    const language = vscode.window.activeTextEditor?.document.languageId;
    const view = formatStatus(this.status, {
      connection: this.connection,
      completionsEnabled: this.config.completionsEnabled,
      disabledLanguage: language !== undefined && this.config.disabledLanguages.includes(language) ? language : undefined,
      starterModel: this.starterModel,
      manualTrigger: this.config.triggerMode === 'manual',
    });
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    const plain = view.text.replace(/\$\([^)]*\)\s*/g, '');
    this.item.accessibilityInformation = { label: `Offpilot status: ${plain.replace(/^Offpilot: /, '')}` };
    this.item.backgroundColor = view.severity === 'normal' ? undefined
      : new vscode.ThemeColor(view.severity === 'error' ? 'statusBarItem.errorBackground' : 'statusBarItem.warningBackground');
  }

  dispose(): void {
    this.item.dispose();
  }
}
