import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiEnv } from '@elevens/api';
import { baseEnv, loadEnv } from '@elevens/config';
import { IngestEnv } from '@elevens/ingest';
import { BuildEnv } from '@elevens/trainer';
import { describe, expect, it } from 'vitest';
import { DemoEnv } from '../packages/cli/src/commands/demo';

/**
 * The environment variables an operator sets, as docs/operations.md lists them ("Environment variables") and the
 * README's configuration table names them, read against the schemas the processes validate their environment
 * with: every variable read is listed, with the processes that read it and its real default.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

const PROCESSES = { api: ApiEnv, ingest: IngestEnv, build: BuildEnv, demo: DemoEnv } as const;
type ProcessName = keyof typeof PROCESSES;
const processNames = Object.keys(PROCESSES) as ProcessName[];
/** The processes `all` names: the demo reads only its own variable beside the ones it hands the services. */
const allProcesses: ProcessName[] = ['api', 'ingest', 'build'];
/** `all`: every process, the CLI's commands included (`migrate`, `keys`, `events`, …), which read baseEnv. */
const BASE = new Set(Object.keys(baseEnv));

const readers = new Map<string, ProcessName[]>();
for (const process of processNames)
  for (const variable of Object.keys(PROCESSES[process].shape))
    readers.set(variable, [...(readers.get(variable) ?? []), process]);

/** The rows of the first markdown table after `heading`: each row's cells, without their outer pipes. */
function tableAfter(text: string, heading: string): string[][] {
  const start = text.indexOf(heading);
  if (start < 0) throw new Error(`no ${JSON.stringify(heading)}`);
  const lines = text.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
  }
  return rows.slice(2);
}

/** The variable names a cell gives in backticks. */
const namesIn = (cell: string) => [...cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]!);

interface ReferenceRow {
  name: string;
  processes: ProcessName[] | 'all';
  /** the value that, set, gives the default; null for a variable whose default is to be unset (`–`) */
  defaultValue: string | null;
}

const reference: ReferenceRow[] = tableAfter(read('docs/operations.md'), '## Environment variables').map(
  ([variable = '', processes = '', defaultValue = '']) => {
    const [name] = namesIn(variable);
    if (name === undefined) throw new Error(`a row names no variable: ${variable}`);
    const backticked = /^`([^`]*)`$/.exec(defaultValue)?.[1];
    if (defaultValue !== '–' && backticked === undefined)
      throw new Error(`${name}: the default is one value in backticks, or – for unset: ${defaultValue}`);
    return {
      name,
      processes: processes === 'all' ? 'all' : (processes.split(', ') as ProcessName[]),
      defaultValue: backticked ?? null,
    };
  },
);

describe('docs/operations.md, "Environment variables"', () => {
  it('lists every variable a process reads', () => {
    const listed = new Set(reference.map(({ name }) => name));
    expect([...readers.keys()].filter((name) => !listed.has(name))).toEqual([]);
  });

  it.each(reference)('$name: is read by the processes it names', ({ name, processes }) => {
    expect(readers.has(name), `${name} is read by no process`).toBe(true);
    if (processes === 'all') expect(BASE.has(name)).toBe(true);
    else for (const process of processes) expect(readers.get(name)).toContain(process);
  });

  it('names each process that reads a variable', () => {
    for (const [name, processes] of readers) {
      const rows = reference.filter((row) => row.name === name);
      const named = rows.flatMap((row) => (row.processes === 'all' ? allProcesses : row.processes));
      expect(new Set(named), name).toEqual(new Set(processes));
    }
  });

  it.each(reference)('$name: has the default it gives', ({ name, processes, defaultValue }) => {
    for (const process of processes === 'all' ? allProcesses : processes) {
      const defaults = loadEnv(PROCESSES[process], {}, process) as Record<string, unknown>;
      if (defaultValue === null) {
        expect([undefined, []], `${name} in ${process}`).toContainEqual(defaults[name]);
        continue;
      }
      const given = loadEnv(PROCESSES[process], { [name]: defaultValue }, process) as Record<string, unknown>;
      expect(given[name], `${name}=${defaultValue} in ${process}`).toEqual(defaults[name]);
    }
  });
});

describe('README.md, "Configuration"', () => {
  it('names only variables a process reads', () => {
    const names = tableAfter(read('README.md'), '## Configuration').flatMap(([variable = '']) =>
      namesIn(variable),
    );
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((name) => !readers.has(name))).toEqual([]);
  });
});
