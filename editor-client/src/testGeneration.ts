// "Generate unit tests": runs the server's `offpilot.generateTests` under a cancellable progress
// notification fed by the server's `$/progress`, then shows the summary and opens the test file.
// The server writes the file itself with `workspace/applyEdit`, which the client applies.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { ExecuteCommandRequest, WorkDoneProgress } from 'vscode-languageserver-protocol';
import { errorMessage, isCancellation } from './errors';
import { CodeTarget, GENERATE_TESTS, targetLabel } from './serverCommands';
import { newToken } from './streams';
import { summarize, TestGenerationResult } from './testSummary';

export class TestGenerator {
  async run(client: LanguageClient, target: CodeTarget): Promise<TestGenerationResult | undefined> {
    const token = newToken('offpilot-tests');
    let result: TestGenerationResult | undefined;
    try {
      result = await vscode.window.withProgress({
        location: vscode.ProgressLocation.Notification,
        title: `Offpilot: generating tests for ${targetLabel(target)}`,
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
          const answer: unknown = await client.sendRequest(ExecuteCommandRequest.type,
            { command: GENERATE_TESTS, arguments: [target], workDoneToken: token }, cancel.token);
          return cancel.token.isCancellationRequested ? undefined : (answer ?? {}) as TestGenerationResult;
        } finally {
          sub.dispose();
          onCancel.dispose();
          cancel.dispose();
        }
      });
    } catch (error) {
      if (!isCancellation(error)) {
        void vscode.window.showErrorMessage(`Offpilot: generating tests failed: ${errorMessage(error)}`);
        return undefined;
      }
      result = undefined;
    }
    if (result === undefined) {
      void vscode.window.showInformationMessage('Offpilot: test generation cancelled.');
      return undefined;
    }
    if (typeof result.testFile === 'string' && result.testFile !== '') {
      const uri = client.protocol2CodeConverter.asUri(result.testFile);
      try {
        const editor = await vscode.window.showTextDocument(uri, { preview: false });
        // The server's edit leaves the new file unsaved in the editor; keep it on disk.
        if (editor.document.isDirty) {
          await editor.document.save();
        }
      } catch (error) {
        void vscode.window.showWarningMessage(`Offpilot: cannot open ${uri.fsPath}: ${errorMessage(error)}`);
      }
    }
    void vscode.window.showInformationMessage(summarize(result));
    return result;
  }
}
