/**
 * Unit tests of the end-of-run notifications: which kind each end gets, the Open
 * action, and the once-per-browser bookkeeping across page loads.
 */

import { Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import { IRun, RunStatus } from '../../api/rest';
import { IAnnounceLedger, ILedgerStore } from '../../runs/announce';
import { RunNotifier } from '../../runs/notifier';
import { IRunsModel } from '../../tokens';

function run(
  id: string,
  status: RunStatus,
  finished: string | null = null
): IRun {
  return {
    id,
    path: `dir/${id}.ipynb`,
    status,
    kernel_mode: 'new',
    kernel_id: null,
    kernel_name: 'python3',
    created: '2026-01-01T00:00:00Z',
    started: '2026-01-01T00:00:01Z',
    finished,
    cells_total: 2,
    cells_done: 2,
    current_cell_id: null,
    error: status === 'failed' ? 'ZeroDivisionError: division by zero' : null
  };
}

/**
 * Just enough of the runs model for the notifier: a `listed` signal.
 */
class FakeRuns {
  constructor(
    public runs: IRun[] = [],
    public loaded = false
  ) {}
  listed = new Signal<IRunsModel, readonly IRun[]>(this as any);
  list(runs: IRun[]): void {
    this.runs = runs;
    this.loaded = true;
    this.listed.emit(runs);
  }
}

class MemoryStore implements ILedgerStore {
  ledger: IAnnounceLedger | null = null;
  load(): IAnnounceLedger | null {
    return this.ledger && JSON.parse(JSON.stringify(this.ledger));
  }
  save(ledger: IAnnounceLedger): void {
    this.ledger = ledger;
  }
}

describe('RunNotifier', () => {
  let emitted: { type: string; message: string; options: any }[];
  let opened: string[];
  let shown: number;

  beforeEach(() => {
    emitted = [];
    opened = [];
    shown = 0;
    for (const type of ['success', 'error', 'warning', 'info'] as const) {
      jest
        .spyOn(Notification, type)
        .mockImplementation((message: string, options?: any) => {
          emitted.push({ type, message, options });
          return `${emitted.length}`;
        });
    }
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  function notifier(runs: FakeRuns, store: ILedgerStore): RunNotifier {
    return new RunNotifier({
      runs: runs as unknown as IRunsModel,
      store,
      trans: nullTranslator.load('jupyter_lapd'),
      onOpen: path => opened.push(path),
      onShowAll: () => (shown += 1)
    });
  }

  it('gives each kind of end its notification type, with an Open action', () => {
    const runs = new FakeRuns();
    notifier(runs, new MemoryStore());
    const statuses: RunStatus[] = [
      'completed',
      'failed',
      'cancelled',
      'interrupted'
    ];
    runs.list(statuses.map(s => run(s, 'running')));
    // At most three ends per listing are announced one by one.
    const ended = statuses.map((s, i) => run(s, s, `2026-01-01T00:0${i}:00Z`));
    runs.list([
      ...ended.slice(0, 2),
      ...statuses.slice(2).map(s => run(s, 'running'))
    ]);
    runs.list(ended);

    expect(emitted.map(e => e.type).sort()).toEqual([
      'error',
      'info',
      'success',
      'warning'
    ]);
    const byType: { [type: string]: (typeof emitted)[0] } = {};
    for (const e of emitted) {
      byType[e.type] = e;
    }
    expect(byType.success.message).toBe(
      'Background run of completed.ipynb completed.'
    );
    expect(byType.error.message).toContain(
      'failed.ipynb failed: ZeroDivisionError'
    );
    expect(byType.info.message).toContain('cancelled.ipynb was cancelled');
    expect(byType.warning.message).toContain(
      'interrupted.ipynb was interrupted'
    );
    expect(byType.error.options.autoClose).toBe(false);

    const action = byType.success.options.actions[0];
    expect(action.label).toBe('Open');
    action.callback(new MouseEvent('click'));
    expect(opened).toEqual(['dir/completed.ipynb']);
  });

  it('announces an end once per browser, across page loads', () => {
    const store = new MemoryStore();
    // First page load: a run is going.
    const page1 = new FakeRuns();
    const n1 = notifier(page1, store);
    page1.list([run('a', 'running')]);
    n1.dispose();
    // The run ends while no page is open; the next page load announces it.
    const page2 = new FakeRuns();
    notifier(page2, store);
    page2.list([run('a', 'completed', '2026-01-01T00:05:00Z')]);
    expect(emitted.map(e => e.message)).toEqual([
      'Background run of a.ipynb completed.'
    ]);
    // A reload does not announce it again.
    const page3 = new FakeRuns();
    notifier(page3, store);
    page3.list([run('a', 'completed', '2026-01-01T00:05:00Z')]);
    expect(emitted).toHaveLength(1);
  });

  it('processes a listing that arrived before it was created', () => {
    const store = new MemoryStore();
    store.save({ watermark: null, active: ['a'], announced: [] });
    notifier(
      new FakeRuns([run('a', 'failed', '2026-01-01T00:05:00Z')], true),
      store
    );
    expect(emitted.map(e => e.type)).toEqual(['error']);
  });

  it('sums up the ends beyond the first three in one notification', () => {
    const runs = new FakeRuns();
    notifier(runs, new MemoryStore());
    runs.list([]);
    runs.list(
      ['1', '2', '3', '4', '5'].map(n =>
        run(`r${n}`, 'completed', `2026-01-01T00:0${n}:00Z`)
      )
    );
    expect(emitted.map(e => e.message)).toEqual([
      'Background run of r3.ipynb completed.',
      'Background run of r4.ipynb completed.',
      'Background run of r5.ipynb completed.',
      '2 more background runs ended.'
    ]);
    emitted[3].options.actions[0].callback(new MouseEvent('click'));
    expect(shown).toBe(1);
  });
});
