// The Explain webview's page and its Content-Security-Policy, and which links it may open.
// Pure (no vscode), so the policy is unit-tested. The page shows a model's answer: nothing in it
// may reach the network (no remote image, font, frame or connection) or run (only the panel's
// own nonce'd script); links open in the browser only on click, after the user confirms.
import { randomBytes } from 'crypto';

export function newNonce(): string {
  return randomBytes(18).toString('base64');
}

/** The policy: nothing by default; the panel's own files (`cspSource`) and data: images. */
export function explainCsp(cspSource: string, nonce: string): string {
  return [
    `default-src 'none'`,
    `img-src ${cspSource} data:`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `base-uri 'none'`,
    `form-action 'none'`,
  ].join('; ') + ';';
}

export interface ExplainPage {
  cspSource: string;
  nonce: string;
  styleUri: string;
  scriptUri: string;
}

export function explainPageHtml(page: ExplainPage): string {
  const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(explainCsp(page.cspSource, page.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" nonce="${attr(page.nonce)}" href="${attr(page.styleUri)}"><title>Offpilot: Explain</title></head>
<body>
<header><h1 id="title"></h1>
<div class="bar"><span id="status" role="status"></span>
<button id="cancel" type="button">Cancel</button>
<button id="open" type="button" hidden>Open as file</button></div></header>
<main id="content" aria-live="polite"></main>
<script nonce="${attr(page.nonce)}" src="${attr(page.scriptUri)}"></script>
</body></html>`;
}

/** The http(s) URL a click in the panel asks to open, or undefined for anything else. */
export function linkToOpen(href: unknown): string | undefined {
  if (typeof href !== 'string' || href.length > 8192) {
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(href.trim());
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : undefined;
}
