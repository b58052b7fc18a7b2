// The Explain and Generate Tests flows against a MOCKED `vscode` module (test/vscodeMock.ts:
// webview panels, progress notifications and messages are recorded) and a scripted stand-in for
// the language client that plays the server's side: `$/progress` on the work-done token,
// `offpilot/stream` deltas, cancellation and the final result.
import { ResponseError, LSPErrorCodes } from 'vscode-languageserver-protocol';
import { beforeEach, describe, expect, it } from 'vitest';
import * as vscode from './vscodeMock';
import { ExplainController } from '../src/explain';
import { TestGenerator } from '../src/testGeneration';
import { downloadModel } from '../src/modelDownload';
import { StreamRouter } from '../src/streams';
import { type CodeTarget } from '../src/codeTarget';

type Progress = { kind: string; message?: string; percentage?: number };

interface Script {
  /** Plays the server: may stream, report progress, wait; returns the result. */
  (io: { token: string; stream(delta: string): void; progress(p: Progress): void; cancelled(): boolean; params: any }): Promise<unknown>;
}

function scriptedClient(streams: StreamRouter, script: Script) {
  const progressHandlers = new Map<string, (p: Progress) => void>();
  const sent: any[] = [];
  const client = {
    sent,
    onProgress(_type: unknown, token: string, handler: (p: Progress) => void) {
      progressHandlers.set(token, handler);
      return { dispose: () => progressHandlers.delete(token) };
    },
    async sendRequest(_type: unknown, params: any, token: { isCancellationRequested: boolean }) {
      sent.push(params);
      const result = await script({
        token: params.workDoneToken, params,
        stream: (delta) => streams.push({ token: params.workDoneToken, delta }),
        progress: (p) => progressHandlers.get(params.workDoneToken)?.(p),
        cancelled: () => token.isCancellationRequested,
      });
      if (token.isCancellationRequested) {
        throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
      }
      return result;
    },
    protocol2CodeConverter: { asUri: (s: string) => vscode.Uri.parse(s) },
  };
  return client;
}

const target: CodeTarget = { uri: 'file:///ws/shop/pricing.py', range: { start: { line: 8, character: 4 }, end: { line: 8, character: 4 } } };
const tick = () => new Promise((r) => setTimeout(r, 5));
const lastView = () => vscode.ui.panels.at(-1)!.posted.at(-1) as { status: string; html: string; statusText: string; title: string; path?: string };

beforeEach(() => vscode.ui.reset());

describe('ExplainController (mocked vscode, scripted client)', () => {
  it('sends offpilot.explain with a work-done token and fills the panel from the stream', async () => {
    const streams = new StreamRouter();
    const client = scriptedClient(streams, async ({ stream, progress }) => {
      progress({ kind: 'begin', message: 'reading' });
      for (const d of ['`apply_discount` ', 'lowers a **price**']) { stream(d); await tick(); }
      return { markdown: '`apply_discount` lowers a **price**.', path: '/ws/.offpilot/explain.md' };
    });
    await new ExplainController(vscode.Uri.file('/ext') as any, streams).run(client as any, target);
    expect(client.sent[0]).toMatchObject({ command: 'offpilot.explain', arguments: [target] });
    expect(client.sent[0].workDoneToken).toMatch(/^offpilot-explain-/);
    expect(lastView()).toMatchObject({ status: 'done', title: 'Explain pricing.py:9', path: '/ws/.offpilot/explain.md' });
    expect(lastView().html).toContain('<strong>price</strong>.');
    expect(streams.openCount).toBe(0);
  });

  it('Cancel in the panel cancels the request and keeps the text so far', async () => {
    const streams = new StreamRouter();
    const client = scriptedClient(streams, async ({ stream, cancelled }) => {
      stream('first part. ');
      await tick();
      vscode.ui.panels.at(-1)!.receive({ type: 'cancel' });
      while (!cancelled()) await tick();
      stream('late part');  // after cancel: not shown
      return { markdown: 'never shown' };
    });
    await new ExplainController(vscode.Uri.file('/ext') as any, streams).run(client as any, target);
    expect(lastView().status).toBe('cancelled');
    expect(lastView().html).toContain('first part.');
    expect(lastView().html).not.toContain('late part');
  });

  it('runs offpilot.explainProblem with its own argument into the same panel', async () => {
    const streams = new StreamRouter();
    const diagnostic = { range: { start: { line: 3, character: 4 }, end: { line: 3, character: 9 } }, message: "Cannot find name 'totl'.", source: 'ts', code: '2304' };
    const arg = { uri: 'file:///ws/web/cart.ts', diagnostic };
    const client = scriptedClient(streams, async ({ stream }) => {
      stream('`totl` is not declared');
      await tick();
      return { markdown: '`totl` is not declared; `total` is.', path: '' };
    });
    await new ExplainController(vscode.Uri.file('/ext') as any, streams).runCommand(client as any, 'offpilot.explainProblem', [arg], 'Explain the problem at cart.ts:4');
    expect(client.sent[0]).toMatchObject({ command: 'offpilot.explainProblem', arguments: [arg] });
    expect(lastView()).toMatchObject({ status: 'done', title: 'Explain the problem at cart.ts:4' });
    expect(lastView().html).toContain('<code>total</code> is.');
  });

  it('shows a server error in the panel', async () => {
    const streams = new StreamRouter();
    const client = scriptedClient(streams, async () => { throw new ResponseError(-32603, 'chat model unavailable'); });
    await new ExplainController(vscode.Uri.file('/ext') as any, streams).run(client as any, target);
    expect(lastView()).toMatchObject({ status: 'error', statusText: 'Failed: chat model unavailable' });
  });
});

describe('TestGenerator (mocked vscode, scripted client)', () => {
  it('forwards progress, opens and saves the test file, shows the summary', async () => {
    const client = scriptedClient(new StreamRouter(), async ({ progress }) => {
      progress({ kind: 'begin', message: 'writing scenarios', percentage: 0 });
      progress({ kind: 'report', message: 'running 3 tests', percentage: 40 });
      progress({ kind: 'report', message: 'keeping 2', percentage: 90 });
      progress({ kind: 'end' });
      return { summary: '2 tests kept, 1 dropped', testFile: 'file:///ws/tests/test_pricing.py', kept: 2, failing: 0, unverified: 0 };
    });
    const result = await new TestGenerator().run(client as any, { ...target, scope: 'symbol' });
    expect(client.sent[0]).toMatchObject({ command: 'offpilot.generateTests', arguments: [{ ...target, scope: 'symbol' }] });
    expect(vscode.ui.progress).toEqual([
      { title: 'Offpilot: generating tests for pricing.py:9' },
      { message: 'writing scenarios', increment: undefined },
      { message: 'running 3 tests', increment: 40 },
      { message: 'keeping 2', increment: 50 },
    ]);
    expect(vscode.ui.opened).toEqual(['/ws/tests/test_pricing.py']);
    expect(vscode.ui.saved).toEqual(['/ws/tests/test_pricing.py']);
    expect(vscode.ui.messages).toEqual([{ kind: 'info', text: '2 tests kept, 1 dropped' }]);
    expect(result?.kept).toBe(2);
  });

  it('cancel in the notification cancels the request', async () => {
    vscode.ui.cancelProgressAfter = 1;
    const client = scriptedClient(new StreamRouter(), async ({ progress, cancelled }) => {
      progress({ kind: 'report', message: 'writing scenarios', percentage: 10 });
      while (!cancelled()) await tick();
      return { summary: 'too late' };
    });
    expect(await new TestGenerator().run(client as any, target)).toBeUndefined();
    expect(vscode.ui.opened).toEqual([]);
    expect(vscode.ui.messages).toEqual([{ kind: 'info', text: 'Offpilot: test generation cancelled.' }]);
  });
});

describe('Workspace Trust in the flows (mocked vscode, scripted client)', () => {
  it('Generate tests in Restricted Mode: the summary as a warning that offers Manage Workspace Trust', async () => {
    const summary = 'Wrote 2 UNVERIFIED tests for slugify in tests/test_text.py: Offpilot did not run them. ' +
      'This workspace is not trusted, so Offpilot ran none of its code.';
    const client = scriptedClient(new StreamRouter(), async () =>
      ({ summary, testFile: 'file:///ws/tests/test_text.py', kept: 0, unverified: 2, workspaceTrusted: false }));
    vscode.ui.warningAnswers = ['Manage Workspace Trust'];
    await new TestGenerator().run(client as any, target);
    await tick();
    expect(vscode.ui.warnings).toEqual([{ text: summary, modal: false, items: ['Manage Workspace Trust'] }]);
    expect(vscode.ui.messages.filter((m) => m.kind === 'info')).toEqual([]);
    expect(vscode.ui.executed).toEqual([{ command: 'workbench.trust.manage', args: [] }]);
  });

  it('Explain panel: the page carries the strict policy; a link opens only after the modal confirmation, and only http(s)', async () => {
    const streams = new StreamRouter();
    const client = scriptedClient(streams, async () => ({ markdown: 'See ![x](https://attacker.example/?q=1) and [docs](https://docs.python.org/3/).' }));
    await new ExplainController(vscode.Uri.file('/ext') as any, streams).run(client as any, target);
    const panel = vscode.ui.panels.at(-1)! as unknown as { webview: { html: string }; receive(m: unknown): void };
    expect(panel.webview.html).toMatch(/content="default-src 'none'; img-src mock: data:; style-src mock: 'nonce-[^']+'; script-src 'nonce-[^']+'; base-uri 'none'; form-action 'none';"/);
    expect(lastView().html).not.toContain('<img');

    vscode.ui.warningAnswers = [undefined];  // dismissed
    panel.receive({ type: 'openLink', href: 'https://docs.python.org/3/' });
    await tick();
    expect(vscode.ui.warnings).toEqual([{ text: 'Open https://docs.python.org/3/ in the browser?', modal: true, items: ['Open'] }]);
    expect(vscode.ui.openedExternal).toEqual([]);

    vscode.ui.warningAnswers = ['Open'];
    panel.receive({ type: 'openLink', href: 'https://attacker.example/?q=1' });
    await tick();
    expect(vscode.ui.openedExternal).toEqual(['https://attacker.example/?q=1']);

    for (const href of ['javascript:alert(1)', 'command:workbench.action.terminal.new', 'file:///etc/passwd', 42]) {
      panel.receive({ type: 'openLink', href });
    }
    await tick();
    expect(vscode.ui.warnings.length).toBe(2);
    expect(vscode.ui.openedExternal).toEqual(['https://attacker.example/?q=1']);
  });
});

describe('downloadModel (mocked vscode, scripted client)', () => {
  it('runs offpilot.pullModel under a progress notification and returns the path', async () => {
    const client = scriptedClient(new StreamRouter(), async ({ progress }) => {
      progress({ kind: 'begin', message: 'starting', percentage: 0 });
      progress({ kind: 'report', message: '120 MB of 250 MB', percentage: 48 });
      progress({ kind: 'report', message: '250 MB of 250 MB', percentage: 100 });
      progress({ kind: 'end' });
      return { name: 'qwen2.5-coder-1.5b', path: '/models/qwen.gguf' };
    });
    expect(await downloadModel(client as any, 'qwen2.5-coder-1.5b')).toBe('/models/qwen.gguf');
    expect(client.sent[0]).toMatchObject({ command: 'offpilot.pullModel', arguments: [{ name: 'qwen2.5-coder-1.5b' }] });
    expect(vscode.ui.progress).toEqual([
      { title: 'Offpilot: downloading qwen2.5-coder-1.5b' },
      { message: 'starting', increment: undefined },
      { message: '120 MB of 250 MB', increment: 48 },
      { message: '250 MB of 250 MB', increment: 52 },
    ]);
  });

  it('a cancelled download says it can be resumed', async () => {
    vscode.ui.cancelProgressAfter = 1;
    const client = scriptedClient(new StreamRouter(), async ({ progress, cancelled }) => {
      progress({ kind: 'report', message: '1 MB', percentage: 1 });
      while (!cancelled()) await tick();
      return { path: '/too/late.gguf' };
    });
    expect(await downloadModel(client as any, 'qwen3-4b-instruct-2507')).toBeUndefined();
    expect(vscode.ui.messages).toEqual([{ kind: 'info', text: 'Offpilot: download of qwen3-4b-instruct-2507 cancelled; choosing it again resumes it.' }]);
  });
});
