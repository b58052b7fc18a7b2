// Stream assembly: `offpilot/stream` deltas routed by token into the Explain panel's model
// (pure; no vscode: the panel's state lives in ExplainModel).
import { describe, expect, it } from 'vitest';
import { ExplainModel } from '../src/explainModel';
import { newToken, StreamRouter } from '../src/streams';

describe('StreamRouter', () => {
  it('assembles deltas per token, in order', () => {
    const router = new StreamRouter();
    const a = router.open('a');
    const b = router.open('b');
    for (const [token, delta] of [['a', 'Hel'], ['b', 'x'], ['a', 'lo'], ['b', 'y'], ['a', ' world']]) {
      expect(router.push({ token, delta })).toBe(true);
    }
    expect(a.text).toBe('Hello world');
    expect(b.text).toBe('xy');
  });

  it('drops deltas for unknown or closed tokens and malformed params', () => {
    const router = new StreamRouter();
    const s = router.open('t');
    router.close('t');
    expect(router.push({ token: 't', delta: 'late' })).toBe(false);
    expect(router.push({ token: 'other', delta: 'x' })).toBe(false);
    expect(router.push({ token: 't' })).toBe(false);
    expect(router.push(null)).toBe(false);
    expect(router.dropped).toBe(4);
    expect(s.text).toBe('');
    expect(router.openCount).toBe(0);
  });

  it('accepts numeric tokens', () => {
    const router = new StreamRouter();
    const s = router.open('7');
    router.push({ token: 7, delta: 'ok' });
    expect(s.text).toBe('ok');
  });

  it('makes distinct tokens', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newToken('offpilot-explain')));
    expect(tokens.size).toBe(100);
  });
});

describe('ExplainModel fed by a stream', () => {
  function explain(deltas: string[]) {
    const router = new StreamRouter();
    const model = new ExplainModel('Explain pricing.py:8-16');
    const stream = router.open('tok');
    const views: string[] = [];
    stream.onDelta((text) => { model.update(text); views.push(model.view().html); });
    for (const delta of deltas) router.push({ token: 'tok', delta });
    return { model, views };
  }

  it('renders the Markdown as it grows', () => {
    const { model, views } = explain(['`apply_discount` ', 'returns the **price** ', 'after a discount.\n\n', '```python\nround(x)\n```\n']);
    expect(views[0]).toBe('<p><code>apply_discount</code></p>\n');
    expect(views[1]).toContain('<strong>price</strong>');
    expect(model.view()).toMatchObject({ status: 'running', statusText: 'Explaining…', title: 'Explain pricing.py:8-16' });
    expect(model.view().html).toContain('<pre><code class="language-python">round(x)\n</code></pre>');
  });

  it('escapes HTML from the model and drops unsafe links', () => {
    const { model } = explain(['<script>alert(1)</script> <img src=x onerror=alert(2)> ', '[click](javascript:alert(3))']);
    const html = model.view().html;
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toContain('href="javascript:');
  });

  it('shows the final result, or keeps the streamed text when the result has none', () => {
    const { model } = explain(['partial']);
    model.finish({ markdown: '# Final', path: '/tmp/x.md' });
    expect(model.view()).toMatchObject({ status: 'done', statusText: 'Done', html: '<h1>Final</h1>\n', path: '/tmp/x.md' });
    const other = explain(['streamed only']).model;
    other.finish(null);
    expect(other.view().html).toBe('<p>streamed only</p>\n');
  });

  it('reports cancel and failure, with progress messages while running', () => {
    const { model } = explain([]);
    expect(model.view().html).toContain('Waiting for the model');
    model.setProgress('reading pricing.py');
    expect(model.view().statusText).toBe('reading pricing.py');
    model.cancel();
    expect(model.view()).toMatchObject({ status: 'cancelled', statusText: 'Cancelled' });
    const failed = explain(['x']).model;
    failed.fail('model <crashed>');
    expect(failed.view().html).toContain('model &lt;crashed&gt;');
  });
});
