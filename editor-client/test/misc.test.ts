// Model list parsing and the test-generation summary (pure; no vscode module loaded beyond the mock).
import { describe, expect, it } from 'vitest';
import { parseModelsTable } from '../src/modelList';
import { summarize } from '../src/testSummary';
import { targetLabel } from '../src/codeTarget';

describe('parseModelsTable', () => {
  it('reads `offpilot models list`', () => {
    const out = [
      'NAME                    INSTALLED  SIZE     QUANT   ROLES            PROMPT    LICENSE',
      'gemma3-270m             yes        253 MB   Q4_K_M  completion,chat  prefix    Gemma Terms of Use',
      'qwen2.5-coder-1.5b      no         1.65 GB  Q8_0    completion       fim       apache-2.0',
      '',
    ].join('\n');
    expect(parseModelsTable(out)).toEqual([
      { name: 'gemma3-270m', installed: true, size: '253 MB', roles: 'completion,chat' },
      { name: 'qwen2.5-coder-1.5b', installed: false, size: '1.65 GB', roles: 'completion' },
    ]);
    expect(parseModelsTable('error: something')).toEqual([]);
  });
});

describe('summarize', () => {
  it('prefers the server summary and otherwise counts', () => {
    expect(summarize({ summary: ' 3 tests kept in tests/test_pricing.py ' })).toBe('3 tests kept in tests/test_pricing.py');
    expect(summarize({ kept: 2, failing: 1, unverified: 0 })).toBe('Offpilot kept 2 passing test(s), 1 failing.');
  });
});

describe('targetLabel', () => {
  it('names the file and the lines', () => {
    const range = { start: { line: 7, character: 0 }, end: { line: 15, character: 3 } };
    expect(targetLabel({ uri: 'file:///ws/shop/pricing.py', range })).toBe('pricing.py:8-16');
    expect(targetLabel({ uri: 'file:///ws/shop/pricing.py', range: { start: range.start, end: range.start } })).toBe('pricing.py:8');
    expect(targetLabel({ uri: 'file:///ws/my%20file.py', range, scope: 'file' })).toBe('my file.py');
  });
});
