// What the status menu shows about the shared model service: the lines of
// `offpilot models status` (service, models, clients, memory, queue). Pure; no vscode.

/** The `offpilot/modelService` request: the server asks the service, or says why it cannot. */
export const MODEL_SERVICE_REQUEST = 'offpilot/modelService';

export interface ServiceLine {
  label: string;
  description?: string;
  detail?: string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

/** Bytes as the CLI prints them: "612 MB", "?" when unknown. */
export function megabytes(n: unknown): string {
  const v = num(n);
  return v === undefined ? '?' : `${Math.round(v / 1e6)} MB`;
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() || path || '?';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The menu's lines for the server's answer to `offpilot/modelService`. */
export function serviceStatusLines(report: unknown): ServiceLine[] {
  if (!isObj(report)) {
    return [{ label: '$(warning) The server sent no model service status', detail: 'Update the offpilot package.' }];
  }
  const status = report.status;
  if (report.running !== true || !isObj(status)) {
    return [{ label: '$(circle-slash) No shared model service is running', detail: str(report.message) || undefined },
      ...otherInstallations(report.others)];
  }
  const lines: ServiceLine[] = [];
  const uptime = num(status.uptime_s);
  const idle = num(status.idle_exit_s);
  lines.push({
    label: `$(server-process) Service: pid ${num(status.pid) ?? '?'}`,
    description: `${megabytes(status.rss_total)} in all (service ${megabytes(status.rss)})`,
    detail: [uptime === undefined ? '' : `up ${Math.round(uptime)} s`,
      idle === undefined ? '' : `exits ${Math.round(idle)} s after the last client`,
      str(status.socket)].filter((s) => s !== '').join(' · '),
  });
  const models = list(status.models);
  for (const m of models) {
    const worker = num(m.worker_pid);
    const clients = num(m.clients) ?? 0;
    lines.push({
      label: `$(symbol-class) ${baseName(str(m.path))}`,
      description: [m.loaded === true ? 'loaded' : 'not loaded',
        worker !== undefined ? `worker pid ${worker}` : `not running ${str(m.error)}`.trim(),
        megabytes(m.rss)].join(' · '),
      detail: `ctx ${num(m.n_ctx) ?? '?'}, ${num(m.threads) ?? '?'} threads, gpu layers ${num(m.gpu_layers) ?? 0}`
        + ` · ${plural(clients, 'client')} · queue ${num(m.queued) ?? 0}`,
    });
  }
  if (models.length === 0) {
    lines.push({ label: '$(symbol-class) No model loaded' });
  }
  for (const c of list(status.clients)) {
    const hit = num(c.cache_hit_rate);
    lines.push({
      label: `$(window) Server pid ${num(c.pid) ?? '?'} · slot ${num(c.slot) ?? '?'}`,
      description: baseName(str(c.model)),
      detail: `${plural(num(c.requests) ?? 0, 'request')}, ${num(c.in_flight) ?? 0} in flight, cache hits `
        + `${hit === undefined ? '-' : `${Math.round(hit * 100)}%`} (${num(c.prompt_tokens_evaluated) ?? 0} of `
        + `${num(c.prompt_tokens) ?? 0} prompt tokens evaluated)`,
    });
  }
  return [...lines, ...otherInstallations(report.others)];
}

/** Services of other Offpilot installations (another version, a pipx install beside the
 * extension's own): listed from the files beside their sockets, never asked. */
function otherInstallations(others: unknown): ServiceLine[] {
  return list(others).map((o) => {
    const state = str(o.state) || 'unknown';
    const pid = num(o.pid);
    return {
      label: `$(versions) Another installation's service: ${state}${pid === undefined ? '' : `, pid ${pid}`}`,
      description: str(o.version) || undefined,
      detail: [str(o.prefix), str(o.socket)].filter((s) => s !== '').join(' · ') || undefined,
    };
  });
}
