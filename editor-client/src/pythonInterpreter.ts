// Finding a Python >= 3.11 to set up the bundled server with. Pure: the Python extension's answer,
// PATH lookups and version probes are passed in, so every branch is unit-tested.

export const MIN_PYTHON: readonly [number, number] = [3, 11];

/** Names tried on PATH, newest first; `python3`/`python` last, as they may be anything. */
export function pathNames(platform: NodeJS.Platform): string[] {
  return platform === 'win32'
    ? ['python3.13.exe', 'python3.12.exe', 'python3.11.exe', 'python3.exe', 'python.exe']
    : ['python3.13', 'python3.12', 'python3.11', 'python3'];
}

export type InterpreterSource = 'python-extension' | 'path';

export interface InterpreterCandidate {
  command: string;
  source: InterpreterSource;
}

export interface Interpreter extends InterpreterCandidate {
  version: readonly [number, number];
}

export interface InterpreterSearch {
  found?: Interpreter;
  /** What was tried and why it was not taken, for the message and the log. */
  rejected: { command: string; reason: string }[];
}

export interface InterpreterProbe {
  /** The interpreter selected in the Python extension (ms-python.python), if it is installed. */
  fromPythonExtension(): Promise<string | undefined>;
  /** The full path of `name` on PATH, or undefined. */
  findOnPath(name: string): string | undefined;
  /** `[major, minor]` of the interpreter, or a reason why it could not be run. */
  version(command: string): Promise<readonly [number, number] | { error: string }>;
}

/** The Python program printed by `version()` probes: "3.12". */
export const VERSION_SCRIPT = 'import sys; print("%d.%d" % sys.version_info[:2])';

/** Parses the output of VERSION_SCRIPT. */
export function parseVersion(stdout: string): readonly [number, number] | undefined {
  const m = /^(\d+)\.(\d+)\s*$/.exec(stdout.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function isSupported(version: readonly [number, number], accepted?: readonly string[]): boolean {
  const [major, minor] = version;
  if (major !== MIN_PYTHON[0] || minor < MIN_PYTHON[1]) {
    return false;
  }
  return accepted === undefined || accepted.length === 0 || accepted.includes(`${major}.${minor}`);
}

/**
 * The first usable interpreter: the Python extension's selection, then the PATH names in order.
 * `accepted` (e.g. ["3.11", "3.12", "3.13"]) narrows the versions to those the shipped wheels cover.
 */
export async function findInterpreter(probe: InterpreterProbe, platform: NodeJS.Platform,
  accepted?: readonly string[]): Promise<InterpreterSearch> {
  const candidates: InterpreterCandidate[] = [];
  let selected: string | undefined;
  try {
    selected = await probe.fromPythonExtension();
  } catch {
    selected = undefined;
  }
  if (selected !== undefined && selected.trim() !== '') {
    candidates.push({ command: selected, source: 'python-extension' });
  }
  for (const name of pathNames(platform)) {
    const full = probe.findOnPath(name);
    if (full !== undefined && !candidates.some((c) => c.command === full)) {
      candidates.push({ command: full, source: 'path' });
    }
  }
  const rejected: InterpreterSearch['rejected'] = [];
  for (const candidate of candidates) {
    const answer = await probe.version(candidate.command);
    if ('error' in answer) {
      rejected.push({ command: candidate.command, reason: answer.error });
    } else if (!isSupported(answer, accepted)) {
      const wanted = accepted !== undefined && accepted.length > 0 ? accepted.join(', ') : `>= ${MIN_PYTHON.join('.')}`;
      rejected.push({ command: candidate.command, reason: `Python ${answer.join('.')}, needs ${wanted}` });
    } else {
      return { found: { ...candidate, version: answer }, rejected };
    }
  }
  return { rejected };
}

/** What the user is told when no interpreter fits. */
export function noInterpreterMessage(search: InterpreterSearch, accepted?: readonly string[]): string {
  const wanted = accepted !== undefined && accepted.length > 0 ? `Python ${accepted.join(', ')}` : `Python ${MIN_PYTHON.join('.')} or newer`;
  const tried = search.rejected.length > 0
    ? ` Tried: ${search.rejected.map((r) => `${r.command} (${r.reason})`).join('; ')}.`
    : ' None was found on PATH or selected in the Python extension.';
  return `Offpilot needs ${wanted} to set up its server.${tried} Install one (or select it in the Python extension), then run "Offpilot: Restart Server".`;
}
