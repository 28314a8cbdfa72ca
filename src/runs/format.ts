import type { TranslationBundle } from '@jupyterlab/translation';

import { IRun, RunStatus } from '../api/rest';

/**
 * Statuses of a run that is still going (queued or executing).
 */
export const ACTIVE_STATUSES: readonly RunStatus[] = ['queued', 'running'];

/**
 * Statuses a run ends with; a run never leaves one of these.
 */
export const FINAL_STATUSES: readonly RunStatus[] = [
  'completed',
  'failed',
  'cancelled',
  'interrupted'
];

/**
 * Whether a run is queued or running.
 */
export function isActive(run: Pick<IRun, 'status'>): boolean {
  return ACTIVE_STATUSES.includes(run.status);
}

/**
 * Whether a run has ended, whichever way.
 */
export function isFinal(run: Pick<IRun, 'status'>): boolean {
  return FINAL_STATUSES.includes(run.status);
}

/**
 * Milliseconds since the epoch of an ISO 8601 time, or null when absent or unparsable.
 */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) {
    return null;
  }
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * How long a run has been executing, in milliseconds.
 *
 * A running run counts from `started` to `now`; an ended run from `started` to
 * `finished`; a run that never started (queued, or cancelled while queued) has none.
 * `now` is the browser's clock and `started` the server's: a browser clock behind the
 * server's would give a negative time, which is clamped to 0.
 *
 * @param run The run as listed by the server.
 * @param now The current time in milliseconds since the epoch.
 * @returns Elapsed milliseconds, or null when the run has not started.
 */
export function elapsedMs(
  run: Pick<IRun, 'status' | 'started' | 'finished'>,
  now: number
): number | null {
  const started = parseTime(run.started);
  if (started === null) {
    return null;
  }
  const end = isFinal(run) ? (parseTime(run.finished) ?? now) : now;
  return Math.max(0, end - started);
}

/**
 * A duration as people read it: `42s`, `3m 05s`, `2h 03m`, `3d 4h`.
 *
 * @param ms Milliseconds; negative values count as 0.
 */
export function formatElapsed(ms: number): string {
  const total = Math.floor(Math.max(0, ms) / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days > 0) {
    return `${days}d ${hours}h`;
  }
  if (hours > 0) {
    return `${hours}h ${pad2(minutes)}m`;
  }
  if (minutes > 0) {
    return `${minutes}m ${pad2(seconds)}s`;
  }
  return `${seconds}s`;
}

/**
 * The share of a run's cells that are done, between 0 and 1.
 */
export function progressFraction(
  run: Pick<IRun, 'cells_done' | 'cells_total'>
): number {
  if (run.cells_total <= 0) {
    return 0;
  }
  return Math.min(1, Math.max(0, run.cells_done / run.cells_total));
}

/**
 * Progress as `done/total`, e.g. `3/10`.
 */
export function formatProgress(
  run: Pick<IRun, 'cells_done' | 'cells_total'>
): string {
  return `${run.cells_done}/${run.cells_total}`;
}

/**
 * The file name of a notebook path (`dir/sub/nb.ipynb` gives `nb.ipynb`).
 */
export function baseName(path: string): string {
  const parts = path.split('/').filter(part => part.length > 0);
  return parts.length > 0 ? parts[parts.length - 1] : path;
}

/**
 * The folder of a notebook path (`dir/sub/nb.ipynb` gives `dir/sub`; the root gives '').
 */
export function dirName(path: string): string {
  const parts = path.split('/').filter(part => part.length > 0);
  return parts.slice(0, -1).join('/');
}

function pad2(value: number): string {
  return value < 10 ? `0${value}` : `${value}`;
}

/**
 * What a resumed run did first: "Resumed, 2 setup cells rerun first" (or none).
 */
export function resumeLabel(
  trans: TranslationBundle,
  run: Pick<IRun, 'setup_cells'>
): string {
  const setup = run.setup_cells?.length ?? 0;
  if (setup === 0) {
    return trans.__('Resumed');
  }
  return trans._n(
    'Resumed, %1 setup cell rerun first: %2',
    'Resumed, %1 setup cells rerun first: %2',
    setup,
    (run.setup_cells ?? []).join(', ')
  );
}
