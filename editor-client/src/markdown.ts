// Markdown to HTML for the Explain panel, from a model's answer: raw HTML is escaped
// (`html: false`); images are never loaded (a placeholder that links to them instead); links
// carry their target in `data-href` only, so nothing navigates until the panel's script asks
// the extension, which opens http(s) targets after the user confirms.
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: false });
const defaultValidate = md.validateLink.bind(md);
md.validateLink = (url: string) => /^https?:/i.test(url.trim()) && defaultValidate(url);

md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
  const token = tokens[idx]!;
  const href = token.attrGet('href') ?? '';
  token.attrs = [['class', 'link'], ['data-href', href], ['title', href], ['role', 'link'], ['tabindex', '0']];
  return self.renderToken(tokens, idx, options);
};

md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const token = tokens[idx]!;
  const src = token.attrGet('src') ?? '';
  const alt = self.renderInlineAsText(token.children ?? [], options, env);
  const label = escapeHtml(`[image${alt ? `: ${alt}` : ''}]`);
  return `<a class="link image" data-href="${escapeHtml(src)}" title="${escapeHtml(`image not loaded: ${src}`)}" ` +
    `role="link" tabindex="0">${label}</a>`;
};

export function renderMarkdown(source: string): string {
  return md.render(source);
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
