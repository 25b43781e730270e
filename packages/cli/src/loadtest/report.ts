import type { Failure, LatencyPoint, Summary } from './samples';
import type { LoadStep, TrafficMix } from './scenario';

export interface ReportInput {
  startedAt: string;
  durationMs: number;
  baseline: number;
  peak: number;
  mix: TrafficMix;
  urls: { api: string; ingest: string };
  phases: { phase: string; startMs: number; durationMs: number; meanRate: number; summary: Summary }[];
  kinds: { kind: string; summary: Summary }[];
  total: Summary;
  /** most first */
  failures: Failure[];
}

/** A latency in ms to one decimal; a dash when there is none (no request of its kind was answered). */
export const formatLatencyMs = (value: number) => (Number.isNaN(value) ? '–' : value.toFixed(1));
const percent = (share: number) => `${Math.round(share * 100)}%`;

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

const summaryCells = (s: Summary) => [
  s.requests,
  s.ok,
  s.shed,
  s.limited,
  s.errors,
  formatLatencyMs(s.p50),
  formatLatencyMs(s.p95),
  formatLatencyMs(s.p99),
];
const SUMMARY_HEADINGS = ['requests', '2xx', 'shed (503)', '429', 'errors', 'p50 ms', 'p95 ms', 'p99 ms'];

const count = (n: number) => n.toLocaleString('en-US');

/** One failure group as a line: how many requests of a kind failed, how, and the first one's message. */
export const failureLine = (f: Failure) =>
  `${f.kind}: ${count(f.count)} ${f.answer === 'no answer' ? 'got no answer' : `answered ${f.answer}`}: ${f.message}`;

/** What an operator can do about most requests failing with this answer (no answer: its own message says). */
const FAILURE_HINTS: Record<string, string> = {
  '401': 'the key was refused',
  '403': 'the key needs the scopes recommendations:read, events:write and push:decide',
  '429': 'give the load-test key a rate limit above the peak (RATE_LIMIT_*)',
  '503': 'the services shed them: they take less than the offered rate',
};

/**
 * One plain line when more than half the requests failed: how many, with the answer most of them got and what to
 * do about it; null when most succeeded. `hints` overrides the advice per answer (the command knows its flags).
 */
export function failureVerdict(
  total: Summary,
  failures: readonly Failure[],
  hints: Record<string, string> = {},
): string | null {
  const failed = total.requests - total.ok;
  if (failed === 0 || failed * 2 <= total.requests) return null;
  const byAnswer = new Map<string, { count: number; message: string }>();
  for (const f of failures) {
    const known = byAnswer.get(f.answer);
    if (known) known.count += f.count;
    else byAnswer.set(f.answer, { count: f.count, message: f.message });
  }
  const answers = [...byAnswer].sort((a, b) => b[1].count - a[1].count);
  const [answer, { message }] = answers[0]!;
  const hint = hints[answer] ?? FAILURE_HINTS[answer] ?? message;
  const got = (a: string) => (a === 'no answer' ? 'got no answer' : `answered ${a}`);
  if (failed === total.requests && answers.length === 1)
    return `all ${count(total.requests)} requests ${got(answer)}: ${hint}`;
  const split = answers
    .slice(0, 3)
    .map(([a, f]) => `${a}: ${count(f.count)}`)
    .join(', ');
  return `${failed === total.requests ? 'all' : 'most'} requests failed: ${count(failed)} of ${count(total.requests)} (${split}); most ${got(answer)}: ${hint}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

/** The run as Markdown: parameters, then counts and latency quantiles per phase and per kind. */
export function renderMarkdown(r: ReportInput): string {
  const lines = [
    '# Festival load test',
    '',
    `- started: ${r.startedAt}, duration ${(r.durationMs / 1000).toFixed(0)} s`,
    `- offered rate: baseline ${r.baseline} req/s, peak ${r.peak} req/s (midnight spike)`,
    `- mix: ${Object.entries(r.mix)
      .map(([k, v]) => `${k} ${percent(v)}`)
      .join(', ')}`,
    `- api: ${r.urls.api}, ingest: ${r.urls.ingest}`,
    '',
    '![latency over time](latency.svg)',
    '',
    '## Per phase',
    '',
    row(['phase', 'from s', 'to s', 'offered req/s', ...SUMMARY_HEADINGS]),
    row(Array(4 + SUMMARY_HEADINGS.length).fill('---')),
    ...r.phases.map((p) =>
      row([
        p.phase,
        (p.startMs / 1000).toFixed(1),
        ((p.startMs + p.durationMs) / 1000).toFixed(1),
        Math.round(p.meanRate),
        ...summaryCells(p.summary),
      ]),
    ),
    row(['**total**', '0.0', (r.durationMs / 1000).toFixed(1), '', ...summaryCells(r.total)]),
    '',
    '## Per kind',
    '',
    row(['kind', ...SUMMARY_HEADINGS]),
    row(Array(1 + SUMMARY_HEADINGS.length).fill('---')),
    ...r.kinds.map((k) => row([k.kind, ...summaryCells(k.summary)])),
    '',
    ...(r.failures.length === 0
      ? []
      : [
          '## Failures',
          '',
          row(['kind', 'answer', 'requests', 'first message']),
          row(Array(4).fill('---')),
          ...r.failures.map((f) => row([f.kind, f.answer, f.count, cell(f.message)])),
          '',
        ]),
    "Requests go out on schedule, evenly at each step's rate, whatever the latency (open loop). Latency is " +
      'measured by the load generator from when a request was due to its response, a wait for a free connection ' +
      'included, answered requests only. ' +
      '*Shed* are 503 answers (the service refused work under pressure, with Retry-After); *errors* are other ' +
      'non-2xx answers and requests that got no answer (connection errors, timeouts).',
    '',
  ];
  return lines.join('\n');
}

const escapeXml = (text: string) =>
  text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

/** A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (m * power >= value) return m * power;
  return 10 * power;
}

const LINES = [
  { key: 'p50', color: '#2563eb' },
  { key: 'p95', color: '#f59e0b' },
  { key: 'p99', color: '#dc2626' },
] as const;

/**
 * Latency quantiles over time as a standalone SVG: phase bands behind, p50/p95/p99 lines, and the offered rate
 * as a dashed step line against the right-hand axis.
 */
export function renderLatencySvg(
  points: readonly LatencyPoint[],
  steps: readonly LoadStep[],
  durationMs: number,
): string {
  const width = 960;
  const height = 380;
  const m = { left: 60, right: 70, top: 40, bottom: 50 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const totalS = Math.max(durationMs / 1000, 1e-3);
  const maxLatency = niceCeiling(Math.max(0, ...points.map((p) => (Number.isNaN(p.p99) ? 0 : p.p99))));
  const maxRate = niceCeiling(Math.max(0, ...steps.map((s) => s.rate)));
  const x = (s: number) => m.left + (Math.min(s, totalS) / totalS) * plotW;
  const yLatency = (v: number) => m.top + plotH - (v / maxLatency) * plotH;
  const yRate = (v: number) => m.top + plotH - (v / maxRate) * plotH;
  const f = (n: number) => n.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="20" font-size="15" font-weight="600">Latency over time (ms) and offered rate (req/s)</text>`,
  ];
  const phases: { phase: string; from: number; to: number }[] = [];
  for (const step of steps) {
    const last = phases.at(-1);
    if (last && last.phase === step.phase) last.to = (step.startMs + step.durationMs) / 1000;
    else
      phases.push({
        phase: step.phase,
        from: step.startMs / 1000,
        to: (step.startMs + step.durationMs) / 1000,
      });
  }
  phases.forEach((p, i) => {
    parts.push(
      `<rect x="${f(x(p.from))}" y="${m.top}" width="${f(x(p.to) - x(p.from))}" height="${plotH}" fill="${i % 2 === 0 ? '#f3f4f6' : '#e5e7eb'}"/>`,
      `<text x="${f((x(p.from) + x(p.to)) / 2)}" y="${m.top + 14}" text-anchor="middle" fill="#374151">${escapeXml(p.phase)}</text>`,
    );
  });
  for (let t = 0; t <= 5; t++) {
    const latency = (maxLatency * t) / 5;
    const rate = (maxRate * t) / 5;
    const seconds = (totalS * t) / 5;
    parts.push(
      `<line x1="${m.left}" x2="${m.left + plotW}" y1="${f(yLatency(latency))}" y2="${f(yLatency(latency))}" stroke="#d1d5db" stroke-width="0.5"/>`,
      `<text x="${m.left - 6}" y="${f(yLatency(latency) + 4)}" text-anchor="end">${+latency.toPrecision(3)}</text>`,
      `<text x="${m.left + plotW + 6}" y="${f(yRate(rate) + 4)}" fill="#6b7280">${+rate.toPrecision(3)}</text>`,
      `<text x="${f(x(seconds))}" y="${m.top + plotH + 18}" text-anchor="middle">${+seconds.toFixed(1)}s</text>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#9ca3af"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 10}" text-anchor="middle">seconds since start</text>`,
  );
  const ratePath = steps
    .map(
      (s, i) =>
        `${i === 0 ? 'M' : 'L'}${f(x(s.startMs / 1000))},${f(yRate(s.rate))} H${f(x((s.startMs + s.durationMs) / 1000))}`,
    )
    .join(' ');
  if (ratePath) parts.push(`<path d="${ratePath}" fill="none" stroke="#6b7280" stroke-dasharray="5 4"/>`);
  for (const line of LINES) {
    // A bucket with no answers breaks the line instead of dropping to zero.
    const segments: string[][] = [[]];
    for (const p of points) {
      const value = p[line.key];
      if (Number.isNaN(value)) segments.push([]);
      else segments.at(-1)!.push(`${f(x(p.second))},${f(yLatency(value))}`);
    }
    for (const segment of segments.filter((s) => s.length > 0)) {
      parts.push(
        segment.length === 1
          ? `<circle cx="${segment[0]!.split(',')[0]}" cy="${segment[0]!.split(',')[1]}" r="2" fill="${line.color}"/>`
          : `<polyline points="${segment.join(' ')}" fill="none" stroke="${line.color}" stroke-width="1.5"/>`,
      );
    }
  }
  [
    ...LINES.map((l) => ({ label: l.key, color: l.color, dash: '' })),
    { label: 'offered req/s', color: '#6b7280', dash: '5 4' },
  ].forEach((entry, i) => {
    const lx = m.left + 420 + i * 110;
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="16" y2="16" stroke="${entry.color}" stroke-width="2"${entry.dash ? ` stroke-dasharray="${entry.dash}"` : ''}/>`,
      `<text x="${lx + 28}" y="20">${escapeXml(entry.label)}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
