// Server commands as seen from an editor: capability check and the selection as argument.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { CodeTarget } from './codeTarget';

export { CodeTarget, EXPLAIN, EXPLAIN_PROBLEM, GENERATE_TESTS, isCodeTarget, problemTarget, targetLabel } from './codeTarget';

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

