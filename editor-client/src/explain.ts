// "Explain this code": runs the server's `offpilot.explain` with a work-done token, streams the
// `offpilot/stream` deltas for that token into the Explain panel, and cancels on request.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { ExecuteCommandRequest, WorkDoneProgress } from 'vscode-languageserver-protocol';
import { ExplainModel } from './explainModel';
import { ExplainPanel } from './explainPanel';
import { CodeTarget, EXPLAIN, targetLabel } from './serverCommands';
import { newToken, StreamRouter } from './streams';
import { errorMessage, isCancellation } from './errors';

export class ExplainController {
  constructor(private readonly extensionUri: vscode.Uri, private readonly streams: StreamRouter) {}

  /** `command` and `args`: another explaining command of the server (Explain this problem). */
  async run(client: LanguageClient, target: CodeTarget, command = EXPLAIN, args: unknown[] = [target],
    title = `Explain ${targetLabel(target)}`): Promise<void> {
    const token = newToken('offpilot-explain');
    const cancel = new vscode.CancellationTokenSource();
    const model = new ExplainModel(title);
    const panel = ExplainPanel.show(this.extensionUri, model, () => {
      // Stop showing text at once; the server's late pieces are dropped.
      cancel.cancel();
      model.cancel();
      panel.renderNow();
    });
    const stream = this.streams.open(token);
    stream.onDelta((text) => {
      if (model.status === 'running') {
        model.update(text);
        panel.render();
      }
    });
    const progress = client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind !== 'end') {
        model.setProgress(value.message);
        panel.render();
      }
    });
    try {
      const result: unknown = await client.sendRequest(ExecuteCommandRequest.type,
        { command, arguments: args, workDoneToken: token }, cancel.token);
      if (cancel.token.isCancellationRequested) {
        model.cancel();
      } else {
        model.finish(result);
      }
    } catch (error) {
      if (cancel.token.isCancellationRequested || isCancellation(error)) {
        model.cancel();
      } else {
        model.fail(errorMessage(error));
      }
    } finally {
      this.streams.close(token);
      progress.dispose();
      cancel.dispose();
      panel.settle(model);
    }
  }
}
