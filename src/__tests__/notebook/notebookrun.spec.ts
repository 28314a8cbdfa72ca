/**
 * Unit tests of NotebookRunModel: a run's events applied to a real JupyterLab notebook
 * model: snapshots, cells started and ended, outputs, display ids, queued cells.
 * Resumption and the dirty flag: notebookrun-sync.spec.ts.
 */

import * as nbformat from '@jupyterlab/nbformat';
import { NotebookModel } from '@jupyterlab/notebook';

import { NotebookRunModel } from '../../notebook/notebookrun';
import { cell, display, feed, outputs, stdout } from '../fixtures';
import { attachedNotebook, RUN, snapshot } from './threecells';

describe('NotebookRunModel', () => {
  let model: NotebookModel;
  let view: NotebookRunModel;

  beforeEach(() => ({ model, view } = attachedNotebook()));

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

    it('takes a catch-up mid-run: the outputs of the cells it carries, every state', () => {
      view.apply(snapshot(0));
      feed(view, 1, [
        { type: 'output', cell_id: 'c1', output: stdout('a\n') },
        {
          type: 'cell_end',
          cell_id: 'c1',
          status: 'done',
          execution_count: 1,
          execution: {},
          finished: ''
        }
      ]);
      // The events 3 to 9 (c2 started and printed) were not sent: a snapshot stands
      // for them, with c2's outputs only.
      const caughtUp = snapshot(9, { outputs: { c2: [stdout('x\n')] } });
      caughtUp.run.cells = [
        {
          id: 'c1',
          status: 'done',
          execution_count: 1,
          started: null,
          finished: null
        },
        {
          id: 'c2',
          status: 'running',
          execution_count: null,
          started: null,
          finished: null
        },
        {
          id: 'c3',
          status: 'queued',
          execution_count: null,
          started: null,
          finished: null
        }
      ];
      expect(view.apply(caughtUp)).toBe(true);
      expect(outputs(model, 'c1')).toEqual([stdout('old c1\na\n')]);
      expect(outputs(model, 'c2')).toEqual([stdout('x\n')]);
      expect(cell(model, 'c2').executionState).toBe('running');
      expect(view.queuedCellIds).toEqual(['c3']);

      feed(view, 10, [
        { type: 'output', cell_id: 'c2', output: stdout('y\n') },
        { type: 'run', run: { ...RUN, status: 'cancelled' } }
      ]);
      expect(outputs(model, 'c2')).toEqual([stdout('x\ny\n')]);
      // The run ended without c2's cell_end: no cell is left showing [*].
      expect(cell(model, 'c2').executionState).toBe('idle');
    });

    it('lets go of a notebook whose model was disposed first, as on closing it', () => {
      view.apply(snapshot(0));
      model.dispose();
      expect(() => view.dispose()).not.toThrow();
      expect(view.isDisposed).toBe(true);
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

    it('leaves a skipped cell as it was and no longer queued', () => {
      feed(view, 1, [
        {
          type: 'cell_end',
          cell_id: 'c2',
          status: 'skipped',
          execution_count: null,
          execution: {},
          finished: '2026-01-01T00:00:02Z'
        }
      ]);
      const c2 = cell(model, 'c2');
      expect(outputs(model, 'c2')).toEqual([stdout('old c2\n')]);
      expect(c2.executionCount).toBe(1);
      expect(view.cellStatus('c2')).toBe('skipped');
      expect(view.queuedCellIds).toEqual(['c3']);
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
});
