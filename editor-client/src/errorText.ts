// "Explain This Error": the traceback or panic the user selected, in a terminal or an editor
// (an output panel is an editor too), sent to the server's `offpilot.explainError`.
import * as vscode from 'vscode';

export const EXPLAIN_PROBLEM = 'offpilot.explainProblem';
export const FIX_PROBLEM = 'offpilot.fixProblem';
export const EXPLAIN_ERROR = 'offpilot.explainError';
/** The extension's command (the server's `offpilot.explainError` is registered by the client). */
export const EXPLAIN_ERROR_SELECTION = 'offpilot.explainErrorSelection';

/** The most characters of a selection sent (the end of a long log holds the error). */
export const MAX_ERROR_TEXT = 200_000;

/** Argument of `offpilot.explainError`. */
export interface ErrorText {
  text: string;
  uri?: string;
}

/** Argument of `offpilot.explainProblem` / `offpilot.fixProblem` (from the server's quick fix). */
export interface ProblemArgument {
  uri: string;
  diagnostic: { message: string; range: unknown; source?: string; code?: string };
}

export function isProblemArgument(value: unknown): value is ProblemArgument {
  if (value === null || typeof value !== 'object') {
    return false;
  }
  const v = value as Record<string, unknown>;
  const d = v.diagnostic as Record<string, unknown> | undefined;
  return typeof v.uri === 'string' && d !== null && typeof d === 'object' && typeof d.message === 'string';
}

/** `pricing.py:13` for a problem's panel title. */
export function problemLabel(arg: ProblemArgument): string {
  const file = decodeURIComponent(arg.uri.split('/').pop() ?? arg.uri);
  const range = arg.diagnostic.range as { start?: { line?: unknown } } | undefined;
  const line = typeof range?.start?.line === 'number' ? `:${range.start.line + 1}` : '';
  return `${file}${line}`;
}

/** The terminal's selected text where VS Code offers it (`Terminal.selection`, newer
 *  releases); undefined where the property is missing or refused. */
export function terminalSelection(terminal: unknown): string | undefined {
  if (terminal === undefined || terminal === null) {
    return undefined;
  }
  try {
    const selection = (terminal as { selection?: unknown }).selection;
    return typeof selection === 'string' && selection.trim() !== '' ? selection : undefined;
  } catch {
    return undefined; // a release where the property is still a proposal throws
  }
}

/** The first non-empty of: the terminal's selection, the active editor's selection. */
export function pickErrorText(terminal: string | undefined, editor: string | undefined): string | undefined {
  for (const text of [terminal, editor]) {
    if (text !== undefined && text.trim() !== '') {
      return text.length > MAX_ERROR_TEXT ? text.slice(-MAX_ERROR_TEXT) : text;
    }
  }
  return undefined;
}

/** The selected error text and the editor's document (for the workspace root), or undefined. */
export async function readErrorSelection(): Promise<ErrorText | undefined> {
  const editor = vscode.window.activeTextEditor;
  const editorText = editor !== undefined && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : undefined;
  let terminalText = terminalSelection(vscode.window.activeTerminal);
  if (terminalText === undefined && editorText === undefined && vscode.window.activeTerminal !== undefined) {
    // Older releases: copy the terminal's selection through the clipboard, then restore it.
    const saved = await vscode.env.clipboard.readText();
    await vscode.commands.executeCommand('workbench.action.terminal.copySelection');
    const copied = await vscode.env.clipboard.readText();
    await vscode.env.clipboard.writeText(saved);
    terminalText = copied !== saved ? copied : undefined;
  }
  const text = pickErrorText(terminalText, editorText);
  if (text === undefined) {
    return undefined;
  }
  const uri = terminalText === undefined && editor?.document.uri.scheme === 'file' ? editor.document.uri.toString() : undefined;
  return uri === undefined ? { text } : { text, uri };
}
