// Test-only diagnostics provider for Offpilot's end-to-end test in code-server, which has no
// Python language extension offline. Like one, it checks each Python document's text (unsaved
// changes included) as it opens and changes: a Python subprocess compiles it, and the syntax
// error the compiler reports is published as a diagnostic (source "Python", the compiler's
// message and position). Packaged and installed into the test profile by .ci/e2e-vscode.
const vscode = require('vscode');
const { execFile } = require('child_process');

// Reads the source on stdin; prints [] or [{message, line, column, endLine, endColumn}] (1-based).
const CHECK = [
  'import json, sys',
  'source = sys.stdin.buffer.read()',
  'try:',
  '    compile(source, sys.argv[1], "exec", dont_inherit=True)',
  '    found = []',
  'except SyntaxError as e:',
  '    found = [{"message": e.msg, "line": e.lineno or 1, "column": e.offset or 1,',
  '              "endLine": e.end_lineno or 0, "endColumn": e.end_offset or 0}]',
  'except ValueError as e:',
  '    found = [{"message": str(e), "line": 1, "column": 1, "endLine": 0, "endColumn": 0}]',
  'print(json.dumps(found))',
].join('\n');

function toDiagnostic(found) {
  const start = new vscode.Position(found.line - 1, Math.max(0, found.column - 1));
  let end = new vscode.Position(Math.max(0, found.endLine - 1), Math.max(0, found.endColumn - 1));
  if (found.endLine < 1 || !end.isAfter(start)) end = start.translate(0, 1);
  const diagnostic = new vscode.Diagnostic(new vscode.Range(start, end), found.message, vscode.DiagnosticSeverity.Error);
  diagnostic.source = 'Python';
  return diagnostic;
}

function activate(context) {
  const collection = vscode.languages.createDiagnosticCollection('python-syntax-test');
  const output = vscode.window.createOutputChannel('Python syntax diagnostics (test)');
  const timers = new Map();
  const check = (document) => {
    if (document.languageId !== 'python' || document.uri.scheme !== 'file') return;
    const python = vscode.workspace.getConfiguration('pythonDiagnosticsTest').get('python') || 'python3';
    const version = document.version;
    const child = execFile(python, ['-c', CHECK, document.uri.fsPath], { timeout: 30000 }, (error, stdout, stderr) => {
      if (error) { output.appendLine(`the check failed: ${error.message} ${stderr}`); return; }
      if (document.isClosed || document.version !== version) return;  // a newer check follows
      const diagnostics = JSON.parse(stdout).map(toDiagnostic);
      collection.set(document.uri, diagnostics);
      output.appendLine(`${document.uri.fsPath} v${version}: ` + JSON.stringify(diagnostics.map((d) =>
        `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.message}`)));
    });
    child.stdin.end(document.getText());
  };
  const later = (document) => {
    clearTimeout(timers.get(document.uri.toString()));
    timers.set(document.uri.toString(), setTimeout(() => check(document), 200));
  };
  context.subscriptions.push(collection, output,
    vscode.workspace.onDidOpenTextDocument(check),
    vscode.workspace.onDidChangeTextDocument((e) => later(e.document)),
    vscode.workspace.onDidCloseTextDocument((d) => collection.delete(d.uri)));
  vscode.workspace.textDocuments.forEach(check);
}

function deactivate() {}
module.exports = { activate, deactivate };
