// The server's `workspace/executeCommand` commands and their argument. Pure (no vscode).

export const EXPLAIN = 'offpilot.explain';
export const GENERATE_TESTS = 'offpilot.generateTests';
export const EXPLAIN_PROBLEM = 'offpilot.explainProblem';

export interface LspPosition { line: number; character: number }
export interface LspRange { start: LspPosition; end: LspPosition }

/** Argument of `offpilot.explain` and `offpilot.generateTests`. */
export interface CodeTarget {
  uri: string;
  range: LspRange;
  scope?: 'symbol' | 'file';
}

export function isCodeTarget(value: unknown): value is CodeTarget {
  if (value === null || typeof value !== 'object') {
    return false;
  }
  const v = value as Record<string, unknown>;
  const r = v.range as Record<string, unknown> | undefined;
  return typeof v.uri === 'string' && r !== undefined && r !== null && typeof r === 'object' &&
    typeof r.start === 'object' && typeof r.end === 'object';
}

/** A short label for a target: `pricing.py:12-20`. */
export function targetLabel(target: CodeTarget): string {
  const file = decodeURIComponent(target.uri.split('/').pop() ?? target.uri);
  if (target.scope === 'file') {
    return file;
  }
  const a = target.range.start.line + 1;
  const b = target.range.end.line + 1;
  return a === b ? `${file}:${a}` : `${file}:${a}-${b}`;
}

/** Where the problem of `offpilot.explainProblem`'s argument `{uri, diagnostic: {range, ...}}` is. */
export function problemTarget(value: unknown): CodeTarget | undefined {
  if (value === null || typeof value !== 'object') {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const d = v.diagnostic as Record<string, unknown> | null | undefined;
  const place = { uri: v.uri, range: d !== null && typeof d === 'object' ? d.range : undefined };
  return isCodeTarget(place) ? place : undefined;
}
