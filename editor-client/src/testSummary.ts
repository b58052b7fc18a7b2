// The message shown when test generation is over. Pure (no vscode).

export interface TestGenerationResult {
  summary?: string;
  testFile?: string;
  kept?: number;
  failing?: number;
  unverified?: number;
  /** False: the workspace is not trusted, so nothing was run (the tests are UNVERIFIED). */
  workspaceTrusted?: boolean;
}

/** The message shown when generation is over. */
export function summarize(result: TestGenerationResult): string {
  if (typeof result.summary === 'string' && result.summary.trim() !== '') {
    return result.summary.trim();
  }
  const n = (x: number | undefined) => (typeof x === 'number' ? x : 0);
  return `Offpilot kept ${n(result.kept)} passing test(s)` +
    `${n(result.failing) ? `, ${n(result.failing)} failing` : ''}` +
    `${n(result.unverified) ? `, ${n(result.unverified)} unverified` : ''}.`;
}
