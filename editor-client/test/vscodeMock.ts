// A MOCK of the `vscode` module for unit tests (aliased in vitest.config.ts): only what the
// tested classes touch. Configuration lives in `settingsStore`; status bar items are plain objects.

export const settingsStore = new Map<string, unknown>();
export const updates: { key: string; value: unknown; target: unknown }[] = [];

export enum ConfigurationTarget { Global = 1, Workspace = 2, WorkspaceFolder = 3 }
export enum StatusBarAlignment { Left = 1, Right = 2 }
export enum InlineCompletionTriggerKind { Invoke = 0, Automatic = 1 }

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  event = (listener: (e: T) => void) => {
    this.listeners.push(listener);
    return { dispose: () => { this.listeners = this.listeners.filter((l) => l !== listener); } };
  };
  fire(e: T): void { for (const l of this.listeners) l(e); }
  dispose(): void { this.listeners = []; }
}

export interface MockStatusBarItem {
  id: string; text: string; tooltip: unknown; backgroundColor: unknown; command: unknown; name: string;
  accessibilityInformation: unknown; visible: boolean; show(): void; dispose(): void;
}

export const createdStatusBarItems: MockStatusBarItem[] = [];

export const window = {
  activeTextEditor: undefined as undefined | { document: { languageId: string } },
  createStatusBarItem(id: string): MockStatusBarItem {
    const item: MockStatusBarItem = {
      id, text: '', tooltip: undefined, backgroundColor: undefined, command: undefined, name: '',
      accessibilityInformation: undefined, visible: false,
      show() { item.visible = true; }, dispose() { item.visible = false; },
    };
    createdStatusBarItems.push(item);
    return item;
  },
};

export const workspace = {
  getConfiguration(section: string) {
    const key = (name: string) => `${section}.${name}`;
    return {
      get<T>(name: string, fallback?: T): T | undefined {
        return settingsStore.has(key(name)) ? settingsStore.get(key(name)) as T : fallback;
      },
      inspect(name: string) {
        return { key: key(name), globalValue: settingsStore.get(key(name)) };
      },
      async update(name: string, value: unknown, target: unknown) {
        updates.push({ key: key(name), value, target });
        settingsStore.set(key(name), value);
      },
    };
  },
};

// ---- used by the Explain and test-generation flows (test/flows.test.ts) ----

export class Uri {
  private constructor(readonly scheme: string, readonly fsPath: string) {}
  private raw: string | undefined;
  static parse(value: string, _strict?: boolean): Uri {
    const uri = new Uri(value.split(':')[0]!, decodeURIComponent(value.replace(/^file:\/\//, '')));
    uri.raw = uri.scheme === 'file' ? undefined : value;
    return uri;
  }
  static file(path: string): Uri { return new Uri('file', path); }
  static joinPath(base: Uri, ...parts: string[]): Uri { return new Uri(base.scheme, [base.fsPath, ...parts].join('/')); }
  toString(): string { return this.raw ?? `${this.scheme}://${this.fsPath}`; }
}

export enum ViewColumn { Active = -1, Beside = -2, One = 1 }
export enum ProgressLocation { SourceControl = 1, Window = 10, Notification = 15 }

export class CancellationTokenSource {
  private listeners: (() => void)[] = [];
  token = {
    isCancellationRequested: false,
    onCancellationRequested: (l: () => void) => { this.listeners.push(l); return { dispose() {} }; },
  };
  cancel(): void {
    if (!this.token.isCancellationRequested) {
      this.token.isCancellationRequested = true;
      for (const l of this.listeners) l();
    }
  }
  dispose(): void {}
}

export interface MockWebviewPanel {
  title: string;
  posted: unknown[];
  disposed: boolean;
  receive(message: unknown): void;
  dispose(): void;
}

export const ui = {
  panels: [] as MockWebviewPanel[],
  messages: [] as { kind: string; text: string }[],
  /** Each warning message's options and offered items, in order (beside `messages`). */
  warnings: [] as { text: string; modal: boolean; items: string[] }[],
  /** What the user picks in the next warning messages (undefined: dismissed). */
  warningAnswers: [] as (string | undefined)[],
  executed: [] as { command: string; args: unknown[] }[],
  openedExternal: [] as string[],
  opened: [] as string[],
  saved: [] as string[],
  progress: [] as { title?: string; message?: string; increment?: number }[],
  /** Cancel the next withProgress run after this many reports (-1: never). */
  cancelProgressAfter: -1,
  reset(): void {
    // panels stay: the Explain panel is reused, as in VS Code
    this.messages = []; this.opened = []; this.saved = []; this.progress = [];
    this.warnings = []; this.warningAnswers = []; this.executed = []; this.openedExternal = [];
    this.cancelProgressAfter = -1;
  },
};

Object.assign(window, {
  createWebviewPanel(_type: string, title: string): unknown {
    let onMessage: (m: unknown) => void = () => {};
    let onDispose: () => void = () => {};
    const panel: MockWebviewPanel & Record<string, unknown> = {
      title, posted: [], disposed: false,
      webview: {
        html: '', cspSource: 'mock:', asWebviewUri: (u: Uri) => u,
        onDidReceiveMessage: (l: (m: unknown) => void) => { onMessage = l; return { dispose() {} }; },
        postMessage: async (m: unknown) => { panel.posted.push(m); return true; },
      },
      reveal() {},
      onDidDispose: (l: () => void) => { onDispose = l; return { dispose() {} }; },
      receive: (m: unknown) => onMessage(m),
      dispose: () => { panel.disposed = true; onDispose(); },
    };
    ui.panels.push(panel);
    return panel;
  },
  async withProgress<T>(options: { title?: string }, task: (p: { report(v: { message?: string; increment?: number }): void }, t: unknown) => Promise<T>): Promise<T> {
    const source = new CancellationTokenSource();
    ui.progress.push({ title: options.title });
    let reports = 0;
    return task({
      report: (v) => {
        ui.progress.push(v);
        reports += 1;
        if (reports === ui.cancelProgressAfter) source.cancel();
      },
    }, source.token);
  },
  async showInformationMessage(text: string) { ui.messages.push({ kind: 'info', text }); return undefined; },
  async showWarningMessage(text: string, ...rest: unknown[]) {
    ui.messages.push({ kind: 'warning', text });
    const options = typeof rest[0] === 'object' && rest[0] !== null ? rest.shift() as { modal?: boolean } : {};
    ui.warnings.push({ text, modal: options.modal === true, items: rest as string[] });
    return ui.warningAnswers.shift();
  },
  async showErrorMessage(text: string) { ui.messages.push({ kind: 'error', text }); return undefined; },
  async showTextDocument(uri: Uri) {
    ui.opened.push(uri.fsPath);
    return { document: { isDirty: true, save: async () => { ui.saved.push(uri.fsPath); return true; } } };
  },
});

export const commands = {
  async executeCommand(command: string, ...args: unknown[]) { ui.executed.push({ command, args }); return undefined; },
};

export const env = {
  async openExternal(uri: Uri) { ui.openedExternal.push(uri.toString()); return true; },
};

/** `vscode.workspace.isTrusted` (Restricted Mode when false). */
Object.assign(workspace, { isTrusted: true });
