// A MOCK of the `vscode` module for unit tests (aliased in vitest.config.ts): only what the
// tested classes touch. Configuration lives in `settingsStore`; status bar items are plain objects.

export const settingsStore = new Map<string, unknown>();
export const updates: { key: string; value: unknown; target: unknown }[] = [];

export enum ConfigurationTarget { Global = 1, Workspace = 2, WorkspaceFolder = 3 }
export enum StatusBarAlignment { Left = 1, Right = 2 }

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
