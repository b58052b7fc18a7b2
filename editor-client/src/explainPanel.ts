// The webview beside the editor that shows an explanation as it streams in, with Cancel.
import * as vscode from 'vscode';
import { ExplainModel } from './explainModel';

const RENDER_INTERVAL_MS = 60;

export class ExplainPanel implements vscode.Disposable {
  private static current: ExplainPanel | undefined;
  private model: ExplainModel | undefined;
  private onCancel: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;

  /** Shows the panel (reusing the open one) for a new explanation. */
  static show(extensionUri: vscode.Uri, model: ExplainModel, onCancel: () => void): ExplainPanel {
    let panel = ExplainPanel.current;
    if (panel === undefined || panel.disposed) {
      const webview = vscode.window.createWebviewPanel('offpilot.explain', 'Offpilot: Explain',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media')] });
      panel = new ExplainPanel(webview, extensionUri);
      ExplainPanel.current = panel;
    } else {
      panel.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    panel.onCancel?.();  // a new explanation replaces a running one
    panel.model = model;
    panel.onCancel = onCancel;
    panel.panel.title = `Offpilot: ${model.title}`;
    panel.renderNow();
    return panel;
  }

  private constructor(private readonly panel: vscode.WebviewPanel, extensionUri: vscode.Uri) {
    const nonce = Math.random().toString(36).slice(2) + Date.now().toString(36);
    const webview = panel.webview;
    const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'explain.css'));
    const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'explain.js'));
    webview.html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}'; img-src ${webview.cspSource} https: data:;">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}"><title>Offpilot: Explain</title></head>
<body>
<header><h1 id="title"></h1>
<div class="bar"><span id="status" role="status"></span>
<button id="cancel" type="button">Cancel</button>
<button id="open" type="button" hidden>Open as file</button></div></header>
<main id="content" aria-live="polite"></main>
<script nonce="${nonce}" src="${script}"></script>
</body></html>`;
    webview.onDidReceiveMessage((message: { type?: string }) => {
      if (message.type === 'cancel') {
        this.onCancel?.();
      } else if (message.type === 'open' && this.model?.path) {
        void vscode.window.showTextDocument(vscode.Uri.file(this.model.path), { viewColumn: vscode.ViewColumn.Beside });
      } else if (message.type === 'ready') {
        this.renderNow();
      }
    });
    panel.onDidDispose(() => {
      this.disposed = true;
      this.onCancel?.();
      if (ExplainPanel.current === this) {
        ExplainPanel.current = undefined;
      }
    });
  }

  /** Re-renders soon; repeated calls while streaming coalesce. */
  render(): void {
    if (this.timer === undefined && !this.disposed) {
      this.timer = setTimeout(() => this.renderNow(), RENDER_INTERVAL_MS);
    }
  }

  renderNow(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.model !== undefined && !this.disposed) {
      void this.panel.webview.postMessage(this.model.view());
    }
  }

  /** Detaches the cancel action once the explanation is over. */
  settle(model: ExplainModel): void {
    if (this.model === model) {
      this.onCancel = undefined;
      this.renderNow();
    }
  }

  dispose(): void {
    this.panel.dispose();
  }
}
