/**
 * Unit tests of NotebookRunModel: a run's events applied to a real JupyterLab notebook
 * model, resumption by seq, display ids, queued cells and the dirty flag.
 */

import * as nbformat from '@jupyterlab/nbformat';
import { NotebookModel } from '@jupyterlab/notebook';

import { NotebookRunModel } from '../notebookrun';
import { IFlushState, IRunEvent } from '../socket';
import { cell, makeRun, outputs, snapshotMaker, stdout } from './fixtures';

const RUN = makeRun({ cells_total: 3 });

/** Events carry their seq; tests write them without and number them in order. */
type Unnumbered<T> = T extends IRunEvent ? Omit<T, 'seq'> : never;

function codeCell(id: string, outputs: nbformat.IOutput[] = []) {
  return {
    cell_type: 'code',
    id,
    source: `print("${id}")`,
    metadata: {},
    outputs,
    execution_count: outputs.length > 0 ? 1 : null
  };
}

function display(text: string): nbformat.IDisplayData {
  return {
    output_type: 'display_data',
    data: { 'text/plain': text },
    metadata: {}
  };
}

/**
 * A notebook of three code cells and a markdown cell, clean, as loaded from a file.
 */
function makeNotebook(
  outputs: { [id: string]: nbformat.IOutput[] } = {}
): NotebookModel {
  const model = new NotebookModel();
  model.fromJSON({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      codeCell('c1', outputs.c1),
      { cell_type: 'markdown', id: 'm1', source: '# title', metadata: {} },
      codeCell('c2', outputs.c2),
      codeCell('c3', outputs.c3)
    ] as nbformat.ICell[]
  });
  model.dirty = false;
  return model;
}

const snapshot = snapshotMaker(RUN, ['c1', 'c2', 'c3']);

/**
 * Feeds events to a view, numbering them from `first`.
 */
function feed(
  view: NotebookRunModel,
  first: number,
  events: Unnumbered<IRunEvent>[]
): IRunEvent[] {
  const numbered = events.map(
    (event, i) => ({ ...event, seq: first + i }) as IRunEvent
  );
  for (const event of numbered) {
    view.apply(event);
  }
  return numbered;
}

describe('NotebookRunModel', () => {
  let model: NotebookModel;
  let view: NotebookRunModel;

  beforeEach(() => {
    model = makeNotebook({
      c1: [stdout('old c1\n')],
      c2: [stdout('old c2\n')]
    });
    view = new NotebookRunModel({ model, run: RUN });
  });

  afterEach(() => {
    view.dispose();
    model.dispose();
  });

  describe('snapshot', () => {
    it('replaces the outputs of started cells and marks the others queued', () => {
      expect(view.since()).toBeNull();
      view.apply(snapshot(7, { outputs: { c1: [stdout('a\nb\n')] } }));

      expect(view.lastSeq).toBe(7);
      expect(view.since()).toBe(7);
      expect(outputs(model, 'c1')).toEqual([stdout('a\nb\n')]);
      // Not started yet: keeps what the file holds, as JupyterLab's Run All does.
      expect(outputs(model, 'c2')).toEqual([stdout('old c2\n')]);
      expect(cell(model, 'c1').executionState).toBe('running');
      expect(view.queuedCellIds).toEqual(['c2', 'c3']);
      expect(view.isActive).toBe(true);
    });

    it('shows the counts and timings of cells already done', () => {
      const snap = snapshot(3, {
        outputs: { c1: [stdout('done\n')] },
        execution: { c1: { 'shell.execute_reply': '2026-01-01T00:00:02Z' } }
      });
      snap.run.cells![0] = {
        id: 'c1',
        status: 'done',
        execution_count: 5,
        started: null,
        finished: null
      };
      view.apply(snap);

      expect(cell(model, 'c1').executionCount).toBe(5);
      expect(cell(model, 'c1').executionState).toBe('idle');
      expect(cell(model, 'c1').getMetadata('execution')).toEqual({
        'shell.execute_reply': '2026-01-01T00:00:02Z'
      });
    });

    it('leaves outputs alone, and the model clean, when they already match', () => {
      const snap = snapshot(1, { outputs: { c1: [stdout('old c1\n')] } });
      snap.run.cells![0] = {
        id: 'c1',
        status: 'done',
        execution_count: 1,
        started: null,
        finished: null
      };
      view.apply(snap);
      expect(outputs(model, 'c1')).toEqual([stdout('old c1\n')]);
      expect(model.dirty).toBe(false);
    });

    it('applies only the events after the snapshot', () => {
      view.apply(snapshot(4, { outputs: { c1: [stdout('1\n2\n')] } }));
      // The server never sends these, but a client must not apply them twice.
      expect(
        view.apply({
          seq: 4,
          type: 'output',
          cell_id: 'c1',
          output: stdout('2\n')
        })
      ).toBe(false);
      feed(view, 5, [{ type: 'output', cell_id: 'c1', output: stdout('3\n') }]);
      expect(outputs(model, 'c1')).toEqual([stdout('1\n2\n3\n')]);
    });

    it('ignores events before any snapshot', () => {
      expect(
        view.apply({
          seq: 1,
          type: 'output',
          cell_id: 'c1',
          output: stdout('x')
        })
      ).toBe(false);
      expect(outputs(model, 'c1')).toEqual([stdout('old c1\n')]);
    });
  });

  describe('events', () => {
    beforeEach(() => {
      view.apply(snapshot(0));
    });

    it('starts a cell like JupyterLab runs one', () => {
      cell(model, 'c2').setMetadata('execution', { old: 'x' });
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c2', started: '2026-01-01T00:00:01Z' }
      ]);
      const c2 = cell(model, 'c2');
      expect(c2.outputs.length).toBe(0);
      expect(c2.executionCount).toBeNull();
      expect(c2.executionState).toBe('running');
      expect(c2.getMetadata('execution')).toBeUndefined();
      expect(view.cellStatus('c2')).toBe('running');
      expect(view.queuedCellIds).toEqual(['c3']);
    });

    it('ends a cell with its count and timing metadata', () => {
      const timing = {
        'iopub.status.busy': '2026-01-01T00:00:01Z',
        'shell.execute_reply': '2026-01-01T00:00:02Z'
      };
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        {
          type: 'cell_end',
          cell_id: 'c1',
          status: 'done',
          execution_count: 12,
          execution: timing,
          finished: '2026-01-01T00:00:02Z'
        }
      ]);
      const c1 = cell(model, 'c1');
      expect(c1.executionCount).toBe(12);
      expect(c1.executionState).toBe('idle');
      expect(c1.getMetadata('execution')).toEqual(timing);
      expect(view.cellStatus('c1')).toBe('done');
    });

    it('merges stream fragments as JupyterLab does', () => {
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        { type: 'output', cell_id: 'c1', output: stdout('line 1\nli') },
        { type: 'output', cell_id: 'c1', output: stdout('ne 2\n') },
        {
          type: 'output',
          cell_id: 'c1',
          output: { output_type: 'stream', name: 'stderr', text: 'warn\n' }
        },
        { type: 'output', cell_id: 'c1', output: stdout('10%\r50%\r100%\n') }
      ]);
      expect(outputs(model, 'c1')).toEqual([
        stdout('line 1\nline 2\n'),
        { output_type: 'stream', name: 'stderr', text: 'warn\n' },
        stdout('100%\n')
      ]);
    });

    it('clears outputs now, or at the next output with wait', () => {
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        { type: 'output', cell_id: 'c1', output: stdout('a\n') },
        { type: 'clear_output', cell_id: 'c1', wait: true }
      ]);
      expect(outputs(model, 'c1')).toEqual([stdout('a\n')]);
      feed(view, 4, [
        { type: 'output', cell_id: 'c1', output: stdout('b\n') },
        { type: 'clear_output', cell_id: 'c1', wait: false }
      ]);
      expect(outputs(model, 'c1')).toEqual([]);
    });

    it('updates every output of a display id, in any cell', () => {
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        {
          type: 'output',
          cell_id: 'c1',
          output: display('v1'),
          display_id: 'd'
        },
        { type: 'output', cell_id: 'c1', output: stdout('between\n') },
        { type: 'cell_start', cell_id: 'c2', started: '' },
        {
          type: 'output',
          cell_id: 'c2',
          output: display('v1'),
          display_id: 'd'
        },
        {
          type: 'output',
          cell_id: 'c2',
          output: display('other'),
          display_id: 'e'
        },
        {
          type: 'update_display',
          cell_id: 'c2',
          display_id: 'd',
          output: { data: { 'text/plain': 'v2' }, metadata: {} }
        }
      ]);
      expect(outputs(model, 'c1')).toEqual([
        display('v2'),
        stdout('between\n')
      ]);
      expect(outputs(model, 'c2')).toEqual([display('v2'), display('other')]);

      // A display cleared away is no longer updated; the others still are.
      feed(view, 8, [
        { type: 'clear_output', cell_id: 'c1', wait: false },
        { type: 'output', cell_id: 'c1', output: stdout('x\n') },
        {
          type: 'update_display',
          cell_id: 'c2',
          display_id: 'd',
          output: { data: { 'text/plain': 'v3' }, metadata: {} }
        },
        {
          type: 'update_display',
          cell_id: 'c2',
          display_id: 'unknown',
          output: { data: { 'text/plain': '?' }, metadata: {} }
        }
      ]);
      expect(outputs(model, 'c1')).toEqual([stdout('x\n')]);
      expect(outputs(model, 'c2')).toEqual([display('v3'), display('other')]);
    });

    it('keeps the execution count of an updated execute_result', () => {
      const result: nbformat.IExecuteResult = {
        output_type: 'execute_result',
        execution_count: 3,
        data: { 'text/plain': '1' },
        metadata: {}
      };
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        { type: 'output', cell_id: 'c1', output: result, display_id: 'r' },
        {
          type: 'update_display',
          cell_id: 'c1',
          display_id: 'r',
          output: { data: { 'text/plain': '2' }, metadata: {} }
        }
      ]);
      expect(outputs(model, 'c1')).toEqual([
        { ...result, data: { 'text/plain': '2' } }
      ]);
    });

    it('skips events of cells the user deleted', () => {
      model.sharedModel.deleteCell(0);
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        { type: 'output', cell_id: 'c1', output: stdout('a\n') },
        { type: 'output', cell_id: 'c2', output: stdout('b\n') }
      ]);
      // Without a cell_start, c2's stream goes on, as a kernel message would.
      expect(outputs(model, 'c2')).toEqual([stdout('old c2\nb\n')]);
    });

    it('ends with the run: nothing queued, no cell left running', () => {
      const changes = jest.fn();
      view.stateChanged.connect(changes);
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        { type: 'run', run: { ...RUN, status: 'cancelled' } }
      ]);
      expect(view.isActive).toBe(false);
      expect(view.run.status).toBe('cancelled');
      expect(view.queuedCellIds).toEqual([]);
      expect(cell(model, 'c1').executionState).toBe('idle');
      expect(changes).toHaveBeenCalled();
    });
  });

  describe('resumption', () => {
    it('asks for the events after the last one applied', () => {
      view.apply(snapshot(2, { outputs: { c1: [stdout('a\n')] } }));
      feed(view, 3, [
        { type: 'output', cell_id: 'c1', output: stdout('b\n') },
        { type: 'output', cell_id: 'c1', output: stdout('c\n') }
      ]);
      expect(view.since()).toBe(4);

      // The socket reconnects with since=4: a snapshot without outputs, then the rest.
      expect(
        view.apply({ ...snapshot(9), outputs: undefined, replay_from: 4 })
      ).toBe(true);
      feed(view, 5, [{ type: 'output', cell_id: 'c1', output: stdout('d\n') }]);
      expect(outputs(model, 'c1')).toEqual([stdout('a\nb\nc\nd\n')]);
    });

    it('asks for a full snapshot after a gap, and recovers with it', () => {
      const resync = jest.fn();
      view.resyncRequested.connect(resync);
      view.apply(snapshot(2, { outputs: { c1: [stdout('a\n')] } }));
      expect(
        view.apply({
          seq: 5,
          type: 'output',
          cell_id: 'c1',
          output: stdout('e\n')
        })
      ).toBe(false);
      expect(resync).toHaveBeenCalledTimes(1);
      expect(view.since()).toBeNull();
      // Nothing is applied until the full snapshot arrives.
      expect(
        view.apply({
          seq: 3,
          type: 'output',
          cell_id: 'c1',
          output: stdout('b\n')
        })
      ).toBe(false);
      view.apply(snapshot(5, { outputs: { c1: [stdout('a\nb\nc\nd\ne\n')] } }));
      expect(outputs(model, 'c1')).toEqual([stdout('a\nb\nc\nd\ne\n')]);
      expect(view.since()).toBe(5);
    });

    it('refuses a resumed snapshot that does not resume where it is', () => {
      const resync = jest.fn();
      view.resyncRequested.connect(resync);
      view.apply(snapshot(2));
      expect(view.apply({ ...snapshot(9), replay_from: 1 })).toBe(false);
      expect(resync).toHaveBeenCalledTimes(1);
      expect(view.since()).toBeNull();
    });

    it('shows every line exactly once across drops, replays and a reattach', () => {
      // What the server would send: a cell printing 30 lines, with flushes.
      const all: IRunEvent[] = [];
      const lines: string[] = [];
      let seq = 0;
      all.push({ seq: ++seq, type: 'cell_start', cell_id: 'c1', started: '' });
      for (let i = 0; i < 30; i++) {
        lines.push(`line ${i}\n`);
        all.push({
          seq: ++seq,
          type: 'output',
          cell_id: 'c1',
          output: stdout(`line ${i}\n`)
        });
      }
      const flat = lines.join('');

      // Attach at seq 10 with the snapshot of that moment.
      view.apply(
        snapshot(10, { outputs: { c1: [stdout(lines.slice(0, 9).join(''))] } })
      );
      // Live events 11..15, then a drop; the reconnection replays 16.. with a
      // duplicate of 15 thrown in, then live events again.
      for (const event of all.slice(10, 15)) {
        view.apply(event);
      }
      expect(view.since()).toBe(15);
      view.apply({ ...snapshot(20), outputs: undefined, replay_from: 15 });
      for (const event of all.slice(14)) {
        view.apply(event);
      }
      expect(outputs(model, 'c1')).toEqual([stdout(flat)]);

      // A second page opening the same file later: the file is stale, the snapshot not.
      const late = makeNotebook({ c1: [stdout(lines.slice(0, 3).join(''))] });
      const lateView = new NotebookRunModel({ model: late, run: RUN });
      lateView.apply(snapshot(seq, { outputs: { c1: [stdout(flat)] } }));
      expect(outputs(late, 'c1')).toEqual([stdout(flat)]);
      lateView.dispose();
      late.dispose();
    });
  });

  describe('snapshot state', () => {
    it('updates displays shown before it attached, when the snapshot says where', () => {
      view.apply(
        snapshot(1, {
          outputs: { c1: [stdout('x\n'), display('v1')] },
          displays: { d: { c1: [1] } }
        })
      );
      feed(view, 2, [
        {
          type: 'update_display',
          cell_id: 'c1',
          display_id: 'd',
          output: { data: { 'text/plain': 'v2' }, metadata: {} }
        }
      ]);
      expect(outputs(model, 'c1')).toEqual([stdout('x\n'), display('v2')]);
    });

    it('keeps a pending clear_output(wait=True) pending', () => {
      view.apply(
        snapshot(1, {
          outputs: { c1: [display('frame 1')] },
          clear_pending: ['c1']
        })
      );
      expect(outputs(model, 'c1')).toEqual([display('frame 1')]);
      feed(view, 2, [
        { type: 'output', cell_id: 'c1', output: display('frame 2') }
      ]);
      expect(outputs(model, 'c1')).toEqual([display('frame 2')]);
    });
  });

  describe('the file and the dirty flag', () => {
    const flushed = (upto: number): Unnumbered<IRunEvent> => ({
      type: 'flushed',
      upto,
      last_modified: `2026-01-01T00:00:0${upto}Z`,
      hash: `hash${upto}`
    });

    it("stays clean: the run's outputs are the server's to save", () => {
      const files: IFlushState[] = [];
      view.flushed.connect((_, flush) => files.push(flush));
      view.apply(snapshot(0));
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        { type: 'output', cell_id: 'c1', output: stdout('a\n') },
        { type: 'output', cell_id: 'c1', output: display('d') },
        { type: 'clear_output', cell_id: 'c1', wait: false },
        { type: 'output', cell_id: 'c1', output: stdout('b\n') },
        flushed(2),
        {
          type: 'cell_end',
          cell_id: 'c1',
          status: 'done',
          execution_count: 1,
          execution: {},
          finished: null
        },
        flushed(7)
      ]);
      feed(view, 9, [{ type: 'output', cell_id: 'c2', output: stdout('c\n') }]);
      expect(model.dirty).toBe(false);
      expect(outputs(model, 'c1')).toEqual([stdout('b\n')]);
      expect(files.map(f => f.hash)).toEqual(['hash2', 'hash7']);
    });

    it("stays dirty with the user's own unsaved edit", () => {
      view.apply(snapshot(0));
      feed(view, 1, [{ type: 'cell_start', cell_id: 'c1', started: '' }]);
      cell(model, 'c3').sharedModel.setSource('edited by the user');
      feed(view, 2, [
        { type: 'output', cell_id: 'c1', output: stdout('a\n') },
        flushed(2)
      ]);
      expect(model.dirty).toBe(true);

      // Once the user saves, the run's outputs leave it clean again.
      model.dirty = false;
      feed(view, 4, [{ type: 'output', cell_id: 'c1', output: stdout('b\n') }]);
      expect(model.dirty).toBe(false);
    });

    it('stays dirty when it was dirty before the run attached', () => {
      cell(model, 'c3').sharedModel.setSource('unsaved');
      const attached = new NotebookRunModel({ model, run: RUN });
      attached.apply(snapshot(0));
      feed(attached, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        flushed(1)
      ]);
      expect(model.dirty).toBe(true);
      attached.dispose();
    });

    it('takes the last write a snapshot carries', () => {
      const files: IFlushState[] = [];
      view.flushed.connect((_, flush) => files.push(flush));
      view.apply(
        snapshot(6, {
          outputs: { c1: [stdout('new\n')] },
          flushed: { upto: 6, last_modified: 't', hash: 'h6' }
        })
      );
      expect(files).toEqual([{ upto: 6, last_modified: 't', hash: 'h6' }]);
      expect(model.dirty).toBe(false);
    });
  });
});
