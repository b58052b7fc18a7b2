// Model profiles for the model picker, read from `offpilot models list`. Pure parsing.

export interface ModelProfileRow {
  name: string;
  installed: boolean;
  size: string;
  roles: string;
}

/** Parses the table `offpilot models list` prints (a header line starting with NAME). */
export function parseModelsTable(stdout: string): ModelProfileRow[] {
  const lines = stdout.split(/\r?\n/);
  const header = lines.findIndex((l) => /^NAME\s+/.test(l));
  if (header < 0) {
    return [];
  }
  const columns = lines[header]!.trim().split(/\s{2,}/);
  const col = (name: string) => columns.indexOf(name);
  const rows: ModelProfileRow[] = [];
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === '') {
      continue;
    }
    const cells = line.trim().split(/\s{2,}/);
    const cell = (name: string) => (col(name) >= 0 ? cells[col(name)] ?? '' : '');
    const name = cells[0] ?? '';
    if (name === '' || /\s/.test(name)) {
      continue;
    }
    rows.push({ name, installed: cell('INSTALLED') === 'yes', size: cell('SIZE'), roles: cell('ROLES') });
  }
  return rows;
}
