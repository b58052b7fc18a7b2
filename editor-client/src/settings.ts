// The `offpilot.*` settings the server understands, and how the client hands them over.
// Pure: no `vscode` import, so the mapping is unit-tested directly.

/** Server settings (camelCase), as in the server's `offpilot.config.Settings` and package.json. */
export const SERVER_SETTINGS = [
  'model', 'chatModel', 'promptMode', 'backend', 'endpoint', 'apiKeyEnv', 'remoteModel',
  'threads', 'contextSize', 'gpuLayers', 'sharedModel', 'sharedModelIdleExit', 'completionsEnabled', 'disabledLanguages', 'maxTokens',
  'maxLines', 'temperature', 'prefetch', 'warmup', 'debounceMs', 'timeLimit', 'contextBudget',
  'prefixChars',
  'suffixChars', 'chatMaxTokens', 'runGeneratedTests', 'allowUnisolatedRuns', 'pythonPath',
  'testTimeout', 'docDiagnostics', 'docStyle', 'docExamples', 'indexEnabled', 'maxFileSize', 'excludeFiles',
  'logLevel',
] as const;

export type ServerSettingName = (typeof SERVER_SETTINGS)[number];

/** Settings read only by the extension (how to start the server, tracing, when to ask). */
export const CLIENT_ONLY_SETTINGS = ['server.command', 'server.pythonPath', 'trace.server', 'triggerMode'] as const;

/** `offpilot.triggerMode`: suggestions as you type, or only when asked (Alt+\ or the command). */
export type TriggerMode = 'automatic' | 'manual';

export function triggerMode(read: SettingReader): TriggerMode {
  return read('triggerMode') === 'manual' ? 'manual' : 'automatic';
}

/**
 * Whether an inline completion request goes to the server: in manual mode only those the user
 * asked for (`InlineCompletionTriggerKind.Invoke`), not those VS Code makes while typing.
 */
export function inlineRequestWanted(read: SettingReader, automatic: boolean): boolean {
  return !automatic || triggerMode(read) === 'automatic';
}

const SERVER_SETTING_SET: ReadonlySet<string> = new Set(SERVER_SETTINGS);

/** Reads one setting of the `offpilot` section; `undefined` when it has no value. */
export type SettingReader = (name: string) => unknown;

/**
 * The object sent as `initializationOptions` and returned for `workspace/configuration`
 * (section `offpilot`): every server setting with its effective value, nothing else. The server
 * reports unknown keys, so client-only settings (`server.*`, `trace.*`) stay out.
 */
export function serverSettings(read: SettingReader): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of SERVER_SETTINGS) {
    const value = read(name);
    if (value !== undefined && value !== null) {
      out[name] = value;
    }
  }
  return out;
}

/** Keeps only server settings of an already-read section object (a `workspace/configuration` answer). */
export function onlyServerSettings(section: unknown): unknown {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) {
    return section;
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section as Record<string, unknown>)) {
    if (SERVER_SETTING_SET.has(key) && value !== undefined && value !== null) {
      out[key] = value;
    }
  }
  return out;
}

/** Whether inline completions should be asked for in a document of `languageId`. */
export function completionsWanted(read: SettingReader, languageId: string): boolean {
  if (read('completionsEnabled') === false) {
    return false;
  }
  const disabled = read('disabledLanguages');
  return !(Array.isArray(disabled) && disabled.includes(languageId));
}

/** The new `disabledLanguages` list after toggling `languageId`. */
export function toggledLanguages(current: unknown, languageId: string): string[] {
  const list = Array.isArray(current) ? current.filter((x): x is string => typeof x === 'string') : [];
  return list.includes(languageId) ? list.filter((x) => x !== languageId) : [...list, languageId].sort();
}
