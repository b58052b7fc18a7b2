// Offpilot for VS Code: starts `offpilot serve` and wires its inline completions, status,
// Explain panel and test generation into the editor.
import * as vscode from 'vscode';
import { DidChangeConfigurationNotification, Middleware } from 'vscode-languageclient/node';
import { Commands } from './commands';
import { Configuration, SECTION } from './configuration';
import { CURSOR_NOTIFICATION, CursorReporter } from './cursorReport';
import { ExplainController } from './explain';
import { BundledServer } from './serverInstall';
import { ServerProcess } from './serverProcess';
import { onlyServerSettings } from './settings';
import { StatusBar } from './statusBar';
import { StreamRouter } from './streams';
import { TestGenerator } from './testGeneration';
import { withTrust } from './trust';

export const STATUS_NOTIFICATION = 'offpilot/status';
export const STREAM_NOTIFICATION = 'offpilot/stream';

let server: ServerProcess | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('Offpilot', { log: true });
  const config = new Configuration();
  const statusBar = new StatusBar(config);
  const streams = new StreamRouter();
  let commands: Commands | undefined;

  const middleware: Middleware = {
    // Skip the round trip when completions are off; the server checks the same settings.
    // In manual mode (`offpilot.triggerMode`) only the requests the user asked for go out.
    provideInlineCompletionItems: (document, position, ctx, token, next) =>
      config.completionsWantedFor(document) && config.inlineRequestWantedFor(document, ctx.triggerKind)
        ? next(document, position, ctx, token) : undefined,
    executeCommand: (command, args, next) =>
      commands !== undefined ? commands.executeCommand(command, args, next) : next(command, args),
    workspace: {
      // The server reads section `offpilot`; client-only keys (server.*, trace.*) stay here,
      // and the workspace's trust comes from VS Code, not from any settings file.
      configuration: async (params, token, next) => {
        const answer = await next(params, token);
        if (!Array.isArray(answer)) {
          return answer;
        }
        return answer.map((value, i) => {
          if (params.items[i]?.section !== SECTION) {
            return value;
          }
          const settings = onlyServerSettings(value);
          return settings !== null && typeof settings === 'object' && !Array.isArray(settings)
            ? withTrust(settings as Record<string, unknown>, vscode.workspace.isTrusted) : settings;
        });
      },
    },
  };

  // A platform .vsix ships the server's wheels; they are installed on first use (serverInstall.ts).
  const bundle = new BundledServer(context.extensionPath, context.globalStorageUri.fsPath, output);
  server = new ServerProcess(output, config, middleware, bundle);
  const process_ = server;
  const cursor = new CursorReporter((params) => {
    void process_.running?.sendNotification(CURSOR_NOTIFICATION, params);
  });
  const reportCaret = (editor: vscode.TextEditor, selections: readonly vscode.Selection[]): void => {
    const document = editor.document;
    const caret = selections.length === 1 && selections[0].isEmpty ? selections[0].active : undefined;
    const wanted = caret !== undefined && (document.uri.scheme === 'file' || document.uri.scheme === 'untitled')
      && config.warmupWantedFor(document);
    cursor.moved(wanted ? { uri: document.uri.toString(), line: caret.line, character: caret.character } : undefined);
  };
  commands = new Commands(server, config, statusBar, output, new ExplainController(context.extensionUri, streams), new TestGenerator());

  context.subscriptions.push(
    output, statusBar, server, ...commands.register(),
    server.onDidCreateClient((client) => {
      client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
        statusBar.setServerStatus(params);
        offerBetterModelOnce(context, statusBar);
      });
      client.onNotification(STREAM_NOTIFICATION, (params: unknown) => { streams.push(params); });
    }),
    server.onDidChangeState((state) => statusBar.setConnection(state)),
    cursor,
    vscode.window.onDidChangeTextEditorSelection((event) => {
      reportCaret(event.textEditor, event.selections);
    }),
    // A file just opened (or brought to the front) has a caret too: report it, so the first
    // suggestion there is warm before the user types.
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      statusBar.refresh();
      if (editor !== undefined) {
        reportCaret(editor, editor.selections);
      }
    }),
    // Restricted Mode held back the workspace's settings and programs: start over with them.
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      output.info('the workspace is now trusted; restarting the server with its full configuration');
      void process_.restart();
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (Configuration.affectsServer(event)) {
        output.info('server settings changed; restarting the server');
        void process_.restart();
        return;
      }
      if (event.affectsConfiguration(SECTION)) {
        statusBar.refresh();
        const client = process_.running;
        if (client !== undefined) {
          void client.sendNotification(DidChangeConfigurationNotification.type,
            { settings: { [SECTION]: config.initializationOptions() } });
        }
      }
    }),
  );
  await server.start();
}

const STARTER_HINT_KEY = 'offpilot.starterModelHintShown';

/** Once per installation: the small built-in model is in use; offer a better one. */
function offerBetterModelOnce(context: vscode.ExtensionContext, statusBar: StatusBar): void {
  if (statusBar.serverStatus?.state !== 'ready' || !statusBar.starterModel || context.globalState.get(STARTER_HINT_KEY) === true) {
    return;
  }
  void context.globalState.update(STARTER_HINT_KEY, true);
  void vscode.window.showInformationMessage(
    'Offpilot is using its small built-in model (Gemma 3 270M). A larger model suggests much better code; ' +
    'it is downloaded once and runs locally.', 'Choose a Model', 'Not Now').then((choice) => {
    if (choice === 'Choose a Model') {
      void vscode.commands.executeCommand('offpilot.chooseModel');
    }
  });
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
