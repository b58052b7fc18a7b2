// Offpilot Explain panel: renders HTML prepared (and escaped) by the extension.
(function () {
  const vscode = acquireVsCodeApi();
  const $ = (id) => document.getElementById(id);
  $('cancel').addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
  $('open').addEventListener('click', () => vscode.postMessage({ type: 'open' }));
  // Links in the answer have no href: the extension opens them after the user confirms.
  const follow = (event) => {
    const link = event.target instanceof Element ? event.target.closest('[data-href]') : null;
    if (!link) return;
    event.preventDefault();
    vscode.postMessage({ type: 'openLink', href: link.getAttribute('data-href') });
  };
  $('content').addEventListener('click', follow);
  $('content').addEventListener('keydown', (event) => { if (event.key === 'Enter') follow(event); });
  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || m.type !== 'render') return;
    $('title').textContent = m.title;
    $('status').textContent = m.statusText;
    document.body.dataset.status = m.status;
    $('cancel').hidden = m.status !== 'running';
    $('open').hidden = !m.path;
    const content = $('content');
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    content.innerHTML = m.html;
    if (m.status === 'running' && atBottom) window.scrollTo(0, document.body.scrollHeight);
  });
  vscode.postMessage({ type: 'ready' });
})();
