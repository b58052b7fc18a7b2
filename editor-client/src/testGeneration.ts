// "Generate unit tests": runs the server's `offpilot.generateTests` under a cancellable progress
// notification fed by the server's `$/progress`, then shows the summary and opens the test file.
// The server writes the file itself with `workspace/applyEdit`, which the client applies.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { errorMessage, isCancellation } from './errors';
import { CodeTarget, GENERATE_TESTS, targetLabel } from './serverCommands';
import { executeWithProgress } from './serverProgress';
import { summarize, TestGenerationResult } from './testSummary';
import { MANAGE_TRUST, MANAGE_TRUST_COMMAND, refusedForTrust } from './trust';

export class TestGenerator {
  async run(client: LanguageClient, target: CodeTarget): Promise<TestGenerationResult | undefined> {
    let result: TestGenerationResult | undefined;
    try {
      result = await executeWithProgress(client, `Offpilot: generating tests for ${targetLabel(target)}`,
        GENERATE_TESTS, [target], 'offpilot-tests') as TestGenerationResult | undefined;
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
    if (refusedForTrust(result)) {
      // Nothing ran because of Restricted Mode: say so, and offer the way out.
      void vscode.window.showWarningMessage(summarize(result), MANAGE_TRUST).then((choice) => {
        if (choice === MANAGE_TRUST) {
          void vscode.commands.executeCommand(MANAGE_TRUST_COMMAND);
        }
      });
    } else {
      void vscode.window.showInformationMessage(summarize(result));
    }
    return result;
  }
}
