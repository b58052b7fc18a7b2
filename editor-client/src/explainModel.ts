// The state of one explanation as the Explain panel shows it. Pure: the panel posts `view()`
// to its webview; tests drive the model with stream deltas.
import { escapeHtml, renderMarkdown } from './markdown';

export type ExplainStatus = 'running' | 'done' | 'cancelled' | 'error';

export interface ExplainView {
  type: 'render';
  title: string;
  status: ExplainStatus;
  statusText: string;
  html: string;
  /** A Markdown file the server wrote, if any. */
  path?: string;
}

export class ExplainModel {
  markdown = '';
  status: ExplainStatus = 'running';
  progress = '';
  error = '';
  path: string | undefined;

  constructor(readonly title: string) {}

  /** The whole text so far (what `TextStream` assembled from the deltas). */
  update(markdown: string): void {
    this.markdown = markdown;
  }

  setProgress(message: string | undefined): void {
    if (message) {
      this.progress = message;
    }
  }

  finish(result: unknown): void {
    const r = (result ?? {}) as { markdown?: unknown; path?: unknown };
    if (typeof r.markdown === 'string' && r.markdown.trim() !== '') {
      this.markdown = r.markdown;
    }
    this.path = typeof r.path === 'string' && r.path !== '' ? r.path : undefined;
    this.status = 'done';
  }

  cancel(): void {
    if (this.status === 'running') {
      this.status = 'cancelled';
    }
  }

  fail(message: string): void {
    this.status = 'error';
    this.error = message;
  }

  view(): ExplainView {
    const statusText = {
      running: this.progress || 'Explaining…',
      done: 'Done',
      cancelled: 'Cancelled',
      error: `Failed: ${this.error}`,
    }[this.status];
    let html = renderMarkdown(this.markdown);
    if (this.markdown.trim() === '' && this.status === 'running') {
      html = '<p class="placeholder">Waiting for the model…</p>';
    } else if (this.markdown.trim() === '' && this.status === 'done') {
      html = '<p class="placeholder">The model returned no explanation.</p>';
    }
    if (this.status === 'error') {
      html += `<p class="error">${escapeHtml(this.error)}</p>`;
    }
    return { type: 'render', title: this.title, status: this.status, statusText, html, path: this.path };
  }
}
