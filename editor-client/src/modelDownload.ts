// Model downloads from the editor: the server's `offpilot.pullModel` under a cancellable
// progress notification fed by the server's `$/progress` (the client owns the Cancel button).
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { ExecuteCommandRequest, WorkDoneProgress } from 'vscode-languageserver-protocol';
import { errorMessage, isCancellation } from './errors';
import { newToken } from './streams';

export const PULL_MODEL = 'offpilot.pullModel';

/** Downloads `name` (a profile or owner/repo/file.gguf); its path, or undefined if it did not. */
export async function downloadModel(client: LanguageClient, name: string): Promise<string | undefined> {
  const token = newToken('offpilot-pull');
  try {
    return await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification,
      title: `Offpilot: downloading ${name}`,
      cancellable: true,
    }, async (progress, cancelled) => {
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
        const answer = await client.sendRequest(ExecuteCommandRequest.type,
          { command: PULL_MODEL, arguments: [{ name }], workDoneToken: token }, cancel.token) as { path?: unknown } | null;
        return typeof answer?.path === 'string' ? answer.path : undefined;
      } finally {
        sub.dispose();
        onCancel.dispose();
        cancel.dispose();
      }
    });
  } catch (error) {
    if (isCancellation(error)) {
      void vscode.window.showInformationMessage(`Offpilot: download of ${name} cancelled; choosing it again resumes it.`);
    } else {
      void vscode.window.showErrorMessage(`Offpilot: downloading ${name} failed: ${errorMessage(error)}`);
    }
    return undefined;
  }
}
