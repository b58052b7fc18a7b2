// Runs one of the server's long commands under a cancellable progress notification fed by the
// server's `$/progress` for the request's work-done token (the client owns the Cancel button,
// since VS Code gives none for server-started progress).
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { ExecuteCommandRequest, WorkDoneProgress } from 'vscode-languageserver-protocol';
import { newToken } from './streams';

/** The command's answer, or undefined when the user cancelled; a server error is thrown. */
export async function executeWithProgress(client: LanguageClient, title: string, command: string,
  args: unknown[], tokenPrefix: string): Promise<unknown> {
  const token = newToken(tokenPrefix);
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, cancelled) => {
      const cancel = new vscode.CancellationTokenSource();
      const onCancel = cancelled.onCancellationRequested(() => cancel.cancel());
      let done = 0;
      const sub = client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'end') {
          return;
        }
        let increment: number | undefined;
        if (typeof value.percentage === 'number' && value.percentage > done) {
          increment = value.percentage - done;
          done = value.percentage;
        }
        progress.report({ message: value.message, increment });
      });
      try {
        const answer: unknown = await client.sendRequest(ExecuteCommandRequest.type,
          { command, arguments: args, workDoneToken: token }, cancel.token);
        return cancel.token.isCancellationRequested ? undefined : answer ?? {};
      } finally {
        sub.dispose();
        onCancel.dispose();
        cancel.dispose();
      }
    });
}
