// The server's `workspace/executeCommand` commands and their arguments.
import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';

export const EXPLAIN = 'offpilot.explain';
export const GENERATE_TESTS = 'offpilot.generateTests';

export interface LspPosition { line: number; character: number }
export interface LspRange { start: LspPosition; end: LspPosition }

/** Argument of `offpilot.explain` and `offpilot.generateTests`. */
export interface CodeTarget {
  uri: string;
  range: LspRange;
  scope?: 'symbol' | 'file';
}

export function advertises(client: LanguageClient, command: string): boolean {
  const commands = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
  return commands.includes(command);
}

/** The selection of `editor` (or its cursor as an empty range) as a server argument. */
export function targetOf(client: LanguageClient, editor: vscode.TextEditor, scope?: 'symbol' | 'file'): CodeTarget {
  const c2p = client.code2ProtocolConverter;
  const target: CodeTarget = { uri: c2p.asUri(editor.document.uri), range: c2p.asRange(editor.selection) };
  if (scope !== undefined) {
    target.scope = scope;
  }
  return target;
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
