// Offpilot Explain panel: renders HTML prepared (and escaped) by the extension.
(function () {
  const vscode = acquireVsCodeApi();
  const $ = (id) => document.getElementById(id);
  $('cancel').addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
  $('open').addEventListener('click', () => vscode.postMessage({ type: 'open' }));
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
