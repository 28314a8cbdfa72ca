/**
 * Unit tests of the bookkeeping that announces each run's end once per browser.
 */

import { IRun, RunStatus } from '../../api/rest';
import {
  IAnnounceLedger,
  LocalStorageLedger,
  parseLedger,
  planAnnouncements
} from '../../runs/announce';

function run(
  id: string,
  status: RunStatus,
  finished: string | null = null
): IRun {
  return {
    id,
    path: `${id}.ipynb`,
    status,
    kernel_mode: 'new',
    kernel_id: null,
    kernel_name: 'python3',
    created: '2026-01-01T00:00:00Z',
    started: '2026-01-01T00:00:01Z',
    finished,
    cells_total: 2,
    cells_done: 0,
    current_cell_id: null,
    error: null
  };
}

const ids = (runs: IRun[]): string[] => runs.map(r => r.id);

/**
 * Feed listings one after another, as page loads or polls would, and collect what
 * each one announces.
 */
function replay(
  listings: IRun[][],
  max = 3,
  ledger: IAnnounceLedger | null = null
): { announced: string[][]; more: string[][]; ledger: IAnnounceLedger | null } {
  const announced: string[][] = [];
  const more: string[][] = [];
  for (const runs of listings) {
    const plan = planAnnouncements(ledger, runs, max);
    announced.push(ids(plan.announce));
    more.push(ids(plan.more));
    // What the browser stores and reads back at the next page load.
    ledger = parseLedger(JSON.stringify(plan.ledger));
  }
  return { announced, more, ledger };
}

describe('planAnnouncements', () => {
  it('announces nothing at the first listing ever (no flood on install)', () => {
    const { announced, ledger } = replay([
      [
        run('c', 'completed', '2026-01-01T00:03:00Z'),
        run('b', 'failed', '2026-01-01T00:02:00Z'),
        run('a', 'running')
      ]
    ]);
    expect(announced).toEqual([[]]);
    expect(ledger).toEqual({
      watermark: '2026-01-01T00:03:00Z',
      active: ['a'],
      announced: []
    });
  });

  it('announces a run seen running once it ends, and only once', () => {
    const { announced } = replay([
      [run('a', 'running')],
      [run('a', 'running')],
      [run('a', 'completed', '2026-01-01T00:05:00Z')],
      [run('a', 'completed', '2026-01-01T00:05:00Z')]
    ]);
    expect(announced).toEqual([[], [], ['a'], []]);
  });

  it('announces a run that started and ended while no page was open', () => {
    const { announced } = replay([
      [run('old', 'completed', '2026-01-01T00:01:00Z')],
      [
        run('new', 'cancelled', '2026-01-01T00:09:00Z'),
        run('old', 'completed', '2026-01-01T00:01:00Z')
      ],
      [
        run('new', 'cancelled', '2026-01-01T00:09:00Z'),
        run('old', 'completed', '2026-01-01T00:01:00Z')
      ]
    ]);
    expect(announced).toEqual([[], ['new'], []]);
  });

  it('announces every end after an empty first listing', () => {
    const { announced } = replay([
      [],
      [run('x', 'interrupted', '2026-01-01T00:00:30Z')]
    ]);
    expect(announced).toEqual([[], ['x']]);
  });

  it('announces a run seen active even when its finished time is older than the watermark', () => {
    // b was running when listed; a ended later but was listed ended first.
    const { announced } = replay([
      [run('b', 'running'), run('a', 'running')],
      [run('b', 'running'), run('a', 'completed', '2026-01-01T00:10:00Z')],
      [
        run('b', 'completed', '2026-01-01T00:09:00Z'),
        run('a', 'completed', '2026-01-01T00:10:00Z')
      ]
    ]);
    expect(announced).toEqual([[], ['a'], ['b']]);
  });

  it('caps individual announcements, newest end first, and hands back the rest', () => {
    const ended = ['1', '2', '3', '4', '5'].map(n =>
      run(`r${n}`, 'completed', `2026-01-01T00:0${n}:00Z`)
    );
    const { announced, more, ledger } = replay([[], ended, ended], 3);
    expect(announced).toEqual([[], ['r5', 'r4', 'r3'], []]);
    expect(more).toEqual([[], ['r2', 'r1'], []]);
    expect(ledger?.announced.sort()).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('compares times as instants, not strings (with and without fractions)', () => {
    const { announced } = replay([
      [run('a', 'completed', '2026-01-01T00:00:00.500000Z')],
      [
        run('b', 'completed', '2026-01-01T00:00:01Z'),
        run('a', 'completed', '2026-01-01T00:00:00.500000Z')
      ]
    ]);
    expect(announced).toEqual([[], ['b']]);
  });

  it('forgets runs the server no longer lists', () => {
    const { ledger } = replay([
      [run('a', 'running'), run('b', 'running')],
      [
        run('a', 'completed', '2026-01-01T00:01:00Z'),
        run('b', 'completed', '2026-01-01T00:02:00Z')
      ],
      [run('b', 'completed', '2026-01-01T00:02:00Z')]
    ]);
    expect(ledger).toEqual({
      watermark: '2026-01-01T00:02:00Z',
      active: [],
      announced: ['b']
    });
  });

  it('does not announce queued or running runs', () => {
    const { announced } = replay([
      [],
      [run('q', 'queued'), run('r', 'running')]
    ]);
    expect(announced).toEqual([[], []]);
  });
});

describe('parseLedger', () => {
  it('reads what was written', () => {
    const ledger = { watermark: null, active: ['a'], announced: ['b'] };
    expect(parseLedger(JSON.stringify(ledger))).toEqual(ledger);
  });

  it.each([
    [null],
    [''],
    ['not json'],
    ['[]'],
    ['{"watermark": 3, "active": [], "announced": []}'],
    ['{"watermark": null, "active": [1], "announced": []}'],
    ['{"watermark": null, "active": []}']
  ])('treats %p as no ledger', text => {
    expect(parseLedger(text)).toBeNull();
  });
});

describe('LocalStorageLedger', () => {
  beforeEach(() => {
    window.localStorage.clear();
  });

  it('keeps one ledger per server', () => {
    const one = new LocalStorageLedger('http://127.0.0.1:8888/');
    const two = new LocalStorageLedger('http://127.0.0.1:9999/');
    one.save({ watermark: null, active: ['a'], announced: [] });
    expect(new LocalStorageLedger('http://127.0.0.1:8888/').load()).toEqual({
      watermark: null,
      active: ['a'],
      announced: []
    });
    expect(two.load()).toBeNull();
  });
});
