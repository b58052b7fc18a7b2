// "Explain This Error" against a MOCKED `vscode` module (test/vscodeMock.ts, extended here with a
// terminal, an editor selection and a clipboard): which text is sent, and that it goes to the
// server's `offpilot.explainError` and streams into the Explain panel.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as vscode from './vscodeMock';
import { ExplainController } from '../src/explain';
import { StreamRouter } from '../src/streams';
import {
  EXPLAIN_ERROR, isProblemArgument, MAX_ERROR_TEXT, pickErrorText, problemLabel, readErrorSelection, terminalSelection,
} from '../src/errorText';

const TRACEBACK = 'Traceback (most recent call last):\n  File "/ws/run.py", line 3, in <module>\n    print(mean([]))\nZeroDivisionError: division by zero\n';

function editorWith(selected: string) {
  return {
    selection: { isEmpty: selected === '' },
    document: { languageId: 'log', uri: vscode.Uri.file('/ws/build.log'), getText: () => selected },
  };
}

let clipboard = '';
const win = vscode.window as any;
const originalExecute = vscode.commands.executeCommand;

beforeEach(() => {
  vscode.ui.reset();
  clipboard = 'what the user copied';
  Object.assign(vscode.env, {
    clipboard: { readText: async () => clipboard, writeText: async (t: string) => { clipboard = t; } },
  });
  win.activeTerminal = undefined;
  win.activeTextEditor = undefined;
});

afterEach(() => {
  vscode.commands.executeCommand = originalExecute;
  win.activeTerminal = undefined;
  win.activeTextEditor = undefined;
});

describe('picking the error text', () => {
  it('prefers the terminal selection, then the editor selection; keeps the end of a long text', () => {
    expect(pickErrorText('T', 'E')).toBe('T');
    expect(pickErrorText('  ', 'E')).toBe('E');
    expect(pickErrorText(undefined, undefined)).toBeUndefined();
    const long = 'x'.repeat(MAX_ERROR_TEXT) + 'END';
    expect(pickErrorText(long, undefined)).toHaveLength(MAX_ERROR_TEXT);
    expect(pickErrorText(long, undefined)!.endsWith('END')).toBe(true);
  });

  it('reads Terminal.selection where VS Code has it, and survives a release that refuses it', () => {
    expect(terminalSelection({ selection: TRACEBACK })).toBe(TRACEBACK);
    expect(terminalSelection({ selection: undefined })).toBeUndefined();
    expect(terminalSelection({})).toBeUndefined();
    expect(terminalSelection({ get selection(): string { throw new Error('proposed API'); } })).toBeUndefined();
  });

  it('sends the terminal selection without a file', async () => {
    win.activeTerminal = { selection: TRACEBACK };
    win.activeTextEditor = editorWith('other text');
    expect(await readErrorSelection()).toEqual({ text: TRACEBACK });
  });

  it('falls back to the editor selection, with the file for the workspace root', async () => {
    win.activeTextEditor = editorWith(TRACEBACK);
    expect(await readErrorSelection()).toEqual({ text: TRACEBACK, uri: 'file:///ws/build.log' });
  });

  it('copies an older terminal selection through the clipboard and restores the clipboard', async () => {
    win.activeTerminal = {};
    vscode.commands.executeCommand = async (command: string) => {
      vscode.ui.executed.push({ command, args: [] });
      if (command === 'workbench.action.terminal.copySelection') {
        clipboard = TRACEBACK;
      }
      return undefined;
    };
    expect(await readErrorSelection()).toEqual({ text: TRACEBACK });
    expect(clipboard).toBe('what the user copied');
    expect(vscode.ui.executed.map((e) => e.command)).toContain('workbench.action.terminal.copySelection');
  });

  it('is undefined when nothing is selected', async () => {
    win.activeTerminal = {};
    expect(await readErrorSelection()).toBeUndefined();
    expect(clipboard).toBe('what the user copied');
  });
});

describe('problems from the quick fixes', () => {
  it('recognises the argument and labels it by file and line', () => {
    const arg = { uri: 'file:///ws/stats.py', diagnostic: { message: '"reslt" is not defined', range: { start: { line: 4, character: 11 } } } };
    expect(isProblemArgument(arg)).toBe(true);
    expect(isProblemArgument({ uri: 'file:///ws/stats.py' })).toBe(false);
    expect(problemLabel(arg)).toBe('stats.py:5');
  });
});

describe('Explain This Error in the Explain panel (scripted client)', () => {
  it('sends offpilot.explainError with a work-done token and shows the streamed text', async () => {
    const streams = new StreamRouter();
    const sent: any[] = [];
    const client = {
      onProgress: () => ({ dispose() {} }),
      async sendRequest(_type: unknown, params: any) {
        sent.push(params);
        streams.push({ token: params.workDoneToken, delta: '## ZeroDivisionError\n\n' });
        streams.push({ token: params.workDoneToken, delta: '`mean([])` divides by **zero**.' });
        return { markdown: '## ZeroDivisionError\n\n`mean([])` divides by **zero**.', path: '' };
      },
    };
    await new ExplainController(vscode.Uri.file('/ext') as any, streams)
      .runCommand(client as any, EXPLAIN_ERROR, [{ text: TRACEBACK }], 'Explain this error');
    expect(sent[0]).toMatchObject({ command: 'offpilot.explainError', arguments: [{ text: TRACEBACK }] });
    expect(sent[0].workDoneToken).toMatch(/^offpilot-explain-/);
    const view = vscode.ui.panels.at(-1)!.posted.at(-1) as { status: string; html: string; title: string };
    expect(view).toMatchObject({ status: 'done', title: 'Explain this error' });
    expect(view.html).toContain('<strong>zero</strong>');
  });
});
