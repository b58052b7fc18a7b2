// The webview beside the editor that shows an explanation as it streams in, with Cancel.
import * as vscode from 'vscode';
import { explainPageHtml, linkToOpen, newNonce } from './explainHtml';
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
        { enableScripts: true, enableForms: false, retainContextWhenHidden: true,
          localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media')] });
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
    const webview = panel.webview;
    webview.html = explainPageHtml({
      cspSource: webview.cspSource,
      nonce: newNonce(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'explain.css')).toString(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'explain.js')).toString(),
    });
    webview.onDidReceiveMessage((message: { type?: string; href?: unknown }) => {
      if (message.type === 'openLink') {
        void confirmAndOpen(message.href);
      } else if (message.type === 'cancel') {
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

/** A link from the model's answer opens in the browser only if http(s) and the user confirms. */
export async function confirmAndOpen(href: unknown): Promise<boolean> {
  const url = linkToOpen(href);
  if (url === undefined) {
    return false;
  }
  const choice = await vscode.window.showWarningMessage(`Open ${url} in the browser?`,
    { modal: true, detail: 'The link comes from the model\'s answer, not from you.' }, 'Open');
  if (choice !== 'Open') {
    return false;
  }
  return vscode.env.openExternal(vscode.Uri.parse(url, true));
}
