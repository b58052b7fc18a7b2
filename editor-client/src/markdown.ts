// Markdown to HTML for the Explain panel. Raw HTML in the model's output is escaped
// (`html: false`), links only open for http(s) targets.
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: false });
const defaultValidate = md.validateLink.bind(md);
md.validateLink = (url: string) => /^https?:/i.test(url.trim()) && defaultValidate(url);

export function renderMarkdown(source: string): string {
  return md.render(source);
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
