import type { MetricSummary } from './accumulator';

export interface MetricTableRow {
  name: string;
  summary: MetricSummary;
}

const COLUMNS: readonly { header: string; value: (s: MetricSummary) => string }[] = [
  { header: 'Users', value: (s) => String(s.users) },
  { header: 'HR@10', value: (s) => s.hr10.toFixed(4) },
  { header: 'NDCG@10', value: (s) => s.ndcg10.toFixed(4) },
  { header: 'Recall@20', value: (s) => s.recall20.toFixed(4) },
  { header: 'MRR@10', value: (s) => s.mrr10.toFixed(4) },
  { header: 'Coverage@10', value: (s) => s.coverage10.toFixed(4) },
];

/** A Markdown table, one row per model, numbers right-aligned with four decimals. */
export function formatMetricTable(rows: readonly MetricTableRow[]): string {
  const lines = [
    `| Model | ${COLUMNS.map((c) => c.header).join(' | ')} |`,
    `| :--- | ${COLUMNS.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of rows) {
    const name = row.name.replaceAll('|', '\\|').replaceAll('\n', ' ');
    lines.push(`| ${name} | ${COLUMNS.map((c) => c.value(row.summary)).join(' | ')} |`);
  }
  return lines.join('\n');
}
