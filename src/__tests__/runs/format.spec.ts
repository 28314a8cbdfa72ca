/**
 * Unit tests of the runs panel's formatting: elapsed time, progress, paths, statuses.
 */

import { IRun } from '../../api/rest';
import {
  baseName,
  dirName,
  elapsedMs,
  formatElapsed,
  formatProgress,
  isActive,
  isFinal,
  progressFraction,
  resumeLabel
} from '../../runs/format';
import { nullTranslator } from '@jupyterlab/translation';

function run(fields: Partial<IRun>): IRun {
  return {
    id: 'r1',
    path: 'dir/nb.ipynb',
    status: 'running',
    kernel_mode: 'new',
    kernel_id: null,
    kernel_name: 'python3',
    created: '2026-01-01T00:00:00Z',
    started: '2026-01-01T00:00:01Z',
    finished: null,
    cells_total: 4,
    cells_done: 1,
    current_cell_id: null,
    error: null,
    ...fields
  };
}

const T0 = Date.parse('2026-01-01T00:00:01Z');

describe('formatElapsed', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [1000, '1s'],
    [59_999, '59s'],
    [60_000, '1m 00s'],
    [65_000, '1m 05s'],
    [3_599_000, '59m 59s'],
    [3_600_000, '1h 00m'],
    [7_380_000, '2h 03m'],
    [86_399_000, '23h 59m'],
    [86_400_000, '1d 0h'],
    [3 * 86_400_000 + 4 * 3_600_000 + 59_000, '3d 4h'],
    [-5000, '0s']
  ])('%d ms is %s', (ms, text) => {
    expect(formatElapsed(ms)).toBe(text);
  });
});

describe('elapsedMs', () => {
  it('counts a running run from started to now', () => {
    expect(elapsedMs(run({}), T0 + 42_000)).toBe(42_000);
  });

  it('counts an ended run from started to finished, whatever now is', () => {
    const ended = run({
      status: 'completed',
      finished: '2026-01-01T00:01:01.500000Z'
    });
    expect(elapsedMs(ended, T0 + 999_999)).toBe(60_500);
  });

  it('has none for a run that never started', () => {
    expect(elapsedMs(run({ status: 'queued', started: null }), T0)).toBeNull();
    expect(
      elapsedMs(
        run({
          status: 'cancelled',
          started: null,
          finished: '2026-01-01T00:00:02Z'
        }),
        T0
      )
    ).toBeNull();
  });

  it('clamps a browser clock behind the server to 0', () => {
    expect(elapsedMs(run({}), T0 - 5000)).toBe(0);
  });

  it('counts an ended run without finished time up to now', () => {
    expect(elapsedMs(run({ status: 'interrupted' }), T0 + 3000)).toBe(3000);
  });
});

describe('progress', () => {
  it('is done/total', () => {
    expect(formatProgress(run({ cells_done: 3, cells_total: 10 }))).toBe(
      '3/10'
    );
  });

  it('is a fraction between 0 and 1', () => {
    expect(progressFraction(run({ cells_done: 1, cells_total: 4 }))).toBe(0.25);
    expect(progressFraction(run({ cells_done: 0, cells_total: 0 }))).toBe(0);
    expect(progressFraction(run({ cells_done: 5, cells_total: 4 }))).toBe(1);
  });
});

describe('statuses', () => {
  it('tells active from final', () => {
    expect(isActive(run({ status: 'queued' }))).toBe(true);
    expect(isActive(run({ status: 'running' }))).toBe(true);
    for (const status of [
      'completed',
      'failed',
      'cancelled',
      'interrupted'
    ] as const) {
      expect(isActive(run({ status }))).toBe(false);
      expect(isFinal(run({ status }))).toBe(true);
    }
    expect(isFinal(run({ status: 'running' }))).toBe(false);
  });
});

describe('paths', () => {
  it('splits a notebook path into folder and name', () => {
    expect(baseName('dir/sub/nb.ipynb')).toBe('nb.ipynb');
    expect(dirName('dir/sub/nb.ipynb')).toBe('dir/sub');
    expect(baseName('nb.ipynb')).toBe('nb.ipynb');
    expect(dirName('nb.ipynb')).toBe('');
  });
});

describe('resumeLabel', () => {
  const trans = nullTranslator.load('jupyterlab');

  it('says a resumed run reran its setup cells first, naming them', () => {
    expect(resumeLabel(trans, { setup_cells: ['a1', 'b2'] })).toBe(
      'Resumed, 2 setup cells rerun first: a1, b2'
    );
    expect(resumeLabel(trans, { setup_cells: ['a1'] })).toBe(
      'Resumed, 1 setup cell rerun first: a1'
    );
  });

  it('says only "Resumed" without setup cells (or from an older server)', () => {
    expect(resumeLabel(trans, { setup_cells: [] })).toBe('Resumed');
    expect(resumeLabel(trans, {})).toBe('Resumed');
  });
});
