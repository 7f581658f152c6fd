/**
 * Benchmark results: rows beside their baselines, targets checked, printed
 * as a table and written to bench/results/<name>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export interface Row {
  metric: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  target?: string;
  meets?: boolean;
  note?: string;
}

export interface BenchResult {
  name: string;
  machine: string;
  date: string;
  rows: Row[];
}

/** Evaluates a target like ">= 5000" or "<= 2" against a value. */
export function meetsTarget(value: number, target: string): boolean {
  const match = /^\s*(>=|<=|>|<)\s*([\d.]+)\s*$/.exec(target);
  if (!match) throw new Error(`unreadable target "${target}"`);
  const bound = Number(match[2]);
  switch (match[1]) {
    case '>=':
      return value >= bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    default:
      return value < bound;
  }
}

export function row(metric: string, value: number, unit: string, extra: { baseline?: number; target?: string; ratioTarget?: string; note?: string } = {}): Row {
  const result: Row = { metric, value: round(value), unit };
  if (extra.baseline !== undefined) {
    result.baseline = round(extra.baseline);
    // A zero (or negative, from measurement noise) baseline has no meaningful ratio.
    if (extra.baseline > 0) result.ratio = round(value / extra.baseline);
  }
  if (extra.target !== undefined) {
    result.target = extra.target;
    result.meets = meetsTarget(value, extra.target);
  } else if (extra.ratioTarget !== undefined && result.ratio !== undefined) {
    result.target = `ratio ${extra.ratioTarget}`;
    result.meets = meetsTarget(result.ratio, extra.ratioTarget);
  }
  if (extra.note) result.note = extra.note;
  return result;
}

function round(n: number): number {
  return Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 1000) / 1000;
}

export function machineDescription(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function formatTable(result: BenchResult): string {
  const header = ['metric', 'value', 'unit', 'baseline', 'ratio', 'target', 'meets', 'note'];
  const lines = result.rows.map((r) => [
    r.metric,
    String(r.value),
    r.unit,
    r.baseline === undefined ? '' : String(r.baseline),
    r.ratio === undefined ? '' : `${r.ratio}x`,
    r.target ?? '',
    r.meets === undefined ? '' : r.meets ? 'yes' : 'NO',
    r.note ?? '',
  ]);
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((cells) => cells[i]!.length)));
  const render = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join('\n');
}

/** Full runs go to bench/results/, quick ones to bench/results/quick/ so they never replace a full run. */
export function writeResult(result: BenchResult, quick: boolean): string {
  const dir = new URL(quick ? '../results/quick/' : '../results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${result.name}.json`, dir);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file.pathname;
}
