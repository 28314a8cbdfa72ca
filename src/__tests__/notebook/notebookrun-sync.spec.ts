/**
 * Unit tests of NotebookRunModel: resumption of a run's events by seq, and the
 * notebook's dirty flag while the run writes the file.
 */

import { NotebookModel } from '@jupyterlab/notebook';
import type { Doc as YDoc } from 'yjs';

import { IFlushState, IRunEvent } from '../../api/runevents';
import { NotebookRunModel } from '../../notebook/notebookrun';
import { cell, display, feed, outputs, stdout, Unnumbered } from '../fixtures';
import {
  attachedNotebook,
  RUN,
  snapshot,
  threeCellNotebook
} from './threecells';

describe('NotebookRunModel', () => {
  let model: NotebookModel;
  let view: NotebookRunModel;

  beforeEach(() => ({ model, view } = attachedNotebook()));

  afterEach(() => {
    view.dispose();
    model.dispose();
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
      const late = threeCellNotebook({
        c1: [stdout(lines.slice(0, 3).join(''))]
      });
      const lateView = new NotebookRunModel({ model: late, run: RUN });
      lateView.apply(snapshot(seq, { outputs: { c1: [stdout(flat)] } }));
      expect(outputs(late, 'c1')).toEqual([stdout(flat)]);
      lateView.dispose();
      late.dispose();
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

    it('is never marked dirty by the run, not even for an instant', () => {
      const changes: unknown[] = [];
      model.stateChanged.connect((_, change) => {
        if (change.name === 'dirty') {
          changes.push(change.newValue);
        }
      });
      view.apply(snapshot(0));
      feed(view, 1, [
        { type: 'cell_start', cell_id: 'c1', started: '' },
        { type: 'output', cell_id: 'c1', output: stdout('a\n') },
        { type: 'clear_output', cell_id: 'c1', wait: false },
        { type: 'output', cell_id: 'c1', output: display('d') },
        {
          type: 'cell_end',
          cell_id: 'c1',
          status: 'done',
          execution_count: 1,
          execution: {},
          finished: null
        }
      ]);
      expect(changes).toEqual([]);
      expect(model.dirty).toBe(false);
    });

    it('leaves the document no bigger for a bar redrawn a thousand times', () => {
      // Every value the document's state map replaces stays in it as a tombstone.
      const structs = () => {
        let count = 0;
        const doc = (model.sharedModel as unknown as { ydoc: YDoc }).ydoc;
        doc.store.clients.forEach(list => (count += list.length));
        return count;
      };
      view.apply(snapshot(0));
      const redraw = (seq: number, count: number) => {
        for (let i = 0; i < count; i++) {
          const bar = `\r${String(seq + i).padStart(5)}/99999`;
          feed(view, seq + i, [
            {
              type: 'output',
              cell_id: 'c1',
              output: { output_type: 'stream', name: 'stderr', text: bar }
            }
          ]);
        }
      };
      feed(view, 1, [{ type: 'cell_start', cell_id: 'c1', started: '' }]);
      redraw(2, 10);
      const before = structs();
      redraw(12, 1000);
      expect(structs() - before).toBeLessThan(100);
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
