// Model downloads from the editor: the server's `offpilot.pullModel` under a cancellable
// progress notification (see serverProgress.ts).
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { errorMessage, isCancellation } from './errors';
import { executeWithProgress } from './serverProgress';

export const PULL_MODEL = 'offpilot.pullModel';

/** Downloads `name` (a profile or owner/repo/file.gguf); its path, or undefined if it did not. */
export async function downloadModel(client: LanguageClient, name: string): Promise<string | undefined> {
  try {
    const answer = await executeWithProgress(client, `Offpilot: downloading ${name}`, PULL_MODEL,
      [{ name }], 'offpilot-pull') as { path?: unknown } | undefined;
    return typeof answer?.path === 'string' ? answer.path : undefined;
  } catch (error) {
    if (isCancellation(error)) {
      void vscode.window.showInformationMessage(`Offpilot: download of ${name} cancelled; choosing it again resumes it.`);
    } else {
      void vscode.window.showErrorMessage(`Offpilot: downloading ${name} failed: ${errorMessage(error)}`);
    }
    return undefined;
  }
}
