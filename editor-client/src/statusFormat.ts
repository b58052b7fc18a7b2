// What the status bar says for a server status. Pure; `statusBar.ts` puts it on screen.

export type ServerState = 'loading' | 'indexing' | 'ready' | 'generating' | 'error' | 'no-model';

/** Params of the `offpilot/status` notification. */
export interface ServerStatus {
  state: string;
  model?: string;
  message?: string;
}

/** Where the extension's connection to the server stands. */
export type ConnectionState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

export interface StatusView {
  text: string;
  tooltip: string;
  /** Drives the background colour: warnings and errors stand out. */
  severity: 'normal' | 'warning' | 'error';
}

export interface StatusContext {
  connection: ConnectionState;
  completionsEnabled: boolean;
  /** Language id of the active editor when completions are off for it. */
  disabledLanguage?: string;
  /** The small embedded default model is the completion model (see isStarterModel). */
  starterModel?: boolean;
  /** `offpilot.triggerMode` is manual: suggestions only when asked. */
  manualTrigger?: boolean;
}

/** The embedded default's profile name (server: offpilot.engine.models.EMBEDDED_DEFAULT). */
export const STARTER_PROFILE = 'gemma3-270m';

/**
 * Whether the completion model is the small embedded default (Gemma 3 270M): the model the server
 * reports, or, before it has reported one, an empty or `gemma3-270m` model setting with the local backend.
 */
export function isStarterModel(statusModel: string | undefined, modelSetting: unknown, backend: unknown): boolean {
  if (backend !== undefined && backend !== 'local') {
    return false;
  }
  const reported = shortModelName(statusModel);
  if (reported !== '') {
    return /gemma[-_ ]?3[-_ ]?270m/i.test(reported);
  }
  const setting = typeof modelSetting === 'string' ? modelSetting.trim() : '';
  return setting === '' || setting === STARTER_PROFILE;
}

const STATE_ICON: Record<ServerState, string> = {
  loading: '$(loading~spin)',
  indexing: '$(sync~spin)',
  ready: '$(sparkle)',
  generating: '$(loading~spin)',
  error: '$(error)',
  'no-model': '$(warning)',
};

const STATE_LABEL: Record<ServerState, string> = {
  loading: 'loading model',
  indexing: 'indexing',
  ready: 'ready',
  generating: 'generating',
  error: 'error',
  'no-model': 'no model',
};

function isServerState(state: string): state is ServerState {
  return Object.prototype.hasOwnProperty.call(STATE_ICON, state);
}

/** A short model name: the file name of a .gguf path without its extension, else the name as is. */
export function shortModelName(model: string | undefined): string {
  const name = (model ?? '').trim();
  if (name === '') {
    return '';
  }
  const base = name.split(/[\\/]/).pop() ?? name;
  return base.replace(/\.gguf$/i, '');
}

export function formatStatus(status: ServerStatus | undefined, ctx: StatusContext): StatusView {
  if (ctx.connection === 'failed' || ctx.connection === 'stopped') {
    return {
      text: '$(error) Offpilot: stopped',
      tooltip: ctx.connection === 'failed'
        ? 'Offpilot: the server could not be started or crashed too often. Click for options.'
        : 'Offpilot: the server is not running. Click for options.',
      severity: 'error',
    };
  }
  if (ctx.connection === 'starting' || ctx.connection === 'restarting' || status === undefined) {
    const verb = ctx.connection === 'restarting' ? 'restarting' : 'starting';
    return { text: `$(loading~spin) Offpilot: ${verb}`, tooltip: `Offpilot: ${verb} the server`, severity: 'normal' };
  }
  const model = shortModelName(status.model);
  const known = isServerState(status.state);
  const label = known ? STATE_LABEL[status.state as ServerState] : status.state;
  let icon = known ? STATE_ICON[status.state as ServerState] : '$(question)';
  const severity: StatusView['severity'] =
    status.state === 'error' ? 'error' : status.state === 'no-model' ? 'warning' : 'normal';
  const off = !ctx.completionsEnabled || ctx.disabledLanguage !== undefined;
  if (off && severity === 'normal') {
    icon = '$(circle-slash)';
  }
  const starter = ctx.starterModel === true && status.state !== 'error' && status.state !== 'no-model';
  const parts = [starter ? `${model || STARTER_PROFILE} (starter)` : model, label].filter((x) => x !== '');
  const lines = [`Offpilot — ${model || 'no model'}: ${label}`];
  if (status.message) {
    lines.push(status.message);
  }
  if (starter) {
    lines.push('This is the small built-in model (Gemma 3 270M): it continues code, but a larger model ' +
      'suggests much better. Click → "Get a better model…" (downloaded once).');
  }
  if (ctx.manualTrigger === true) {
    lines.push('Suggestions only when asked: Alt+\\ (Trigger Inline Suggestion).');
  }
  if (!ctx.completionsEnabled) {
    lines.push('Inline completions are off.');
  } else if (ctx.disabledLanguage !== undefined) {
    lines.push(`Inline completions are off for ${ctx.disabledLanguage}.`);
  }
  lines.push('Click for options.');
  return { text: `${icon} ${parts.join(' · ')}`, tooltip: lines.join('\n'), severity };
}
