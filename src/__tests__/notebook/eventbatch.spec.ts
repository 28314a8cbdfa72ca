/**
 * Unit tests of the per-frame batches: a batch of events, compacted, leaves a real
 * notebook model exactly as the same events applied one by one, while adding fewer
 * outputs; and FrameBatch hands over what it gathered once per frame.
 */

import * as nbformat from '@jupyterlab/nbformat';
import { NotebookModel } from '@jupyterlab/notebook';

import { IRunEvent } from '../../api/runevents';
import { compactEvents, FrameBatch } from '../../notebook/eventbatch';
import { cell, outputs, stdout, Unnumbered } from '../fixtures';
import { attachedNotebook, snapshot } from './threecells';

function numbered(first: number, events: Unnumbered<IRunEvent>[]): IRunEvent[] {
  return events.map((event, i) => ({ ...event, seq: first + i }) as IRunEvent);
}

function stderr(text: string): nbformat.IStream {
  return { output_type: 'stream', name: 'stderr', text };
}

function displayed(text: string, id?: string): Unnumbered<IRunEvent> {
  return {
    type: 'output',
    cell_id: 'c1',
    output: {
      output_type: 'display_data',
      data: { 'text/plain': text },
      metadata: {},
      ...(id ? { transient: { display_id: id } } : {})
    },
    ...(id ? { display_id: id } : {})
  };
}

const CELLS = ['c1', 'c2'];

/**
 * A random sequence of what a run sends: stream fragments (with `\r` and `\n`), display
 * data with and without display ids, display updates, clears with and without wait,
 * cells starting and ending.
 */
function randomEvents(random: () => number, count: number) {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const events: Unnumbered<IRunEvent>[] = [];
  for (let i = 0; i < count; i++) {
    const cellId = pick(CELLS);
    const kind = pick([
      'out',
      'out',
      'out',
      'err',
      'cr',
      'display',
      'update',
      'clear',
      'clearWait',
      'start',
      'end'
    ]);
    switch (kind) {
      case 'out':
        events.push({
          type: 'output',
          cell_id: cellId,
          output: stdout(`o${i}\n`)
        });
        break;
      case 'err':
        events.push({
          type: 'output',
          cell_id: cellId,
          output: stderr(`e${i}`)
        });
        break;
      case 'cr':
        events.push({
          type: 'output',
          cell_id: cellId,
          output: stdout(`\r${i}%`)
        });
        break;
      case 'display': {
        const id = pick(['d1', 'd2', '']);
        events.push({
          ...displayed(`shown ${i}`, id),
          cell_id: cellId
        } as Unnumbered<IRunEvent>);
        break;
      }
      case 'update':
        events.push({
          type: 'update_display',
          cell_id: cellId,
          display_id: pick(['d1', 'd2']),
          output: { data: { 'text/plain': `updated ${i}` }, metadata: {} }
        });
        break;
      case 'clear':
      case 'clearWait':
        events.push({
          type: 'clear_output',
          cell_id: cellId,
          wait: kind === 'clearWait'
        });
        break;
      case 'start':
        events.push({
          type: 'cell_start',
          cell_id: cellId,
          started: '2026-01-01T00:00:00Z'
        });
        break;
      case 'end':
        events.push({
          type: 'cell_end',
          cell_id: cellId,
          status: 'done',
          execution_count: i,
          execution: {},
          finished: '2026-01-01T00:00:01Z'
        });
        break;
    }
  }
  return events;
}

/** A small seeded generator, so that a failure can be replayed. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

function state(model: NotebookModel) {
  return CELLS.map(id => ({
    outputs: outputs(model, id),
    count: cell(model, id).executionCount,
    running: cell(model, id).executionState
  }));
}

describe('compactEvents', () => {
  it('merges adjacent fragments of one stream of one cell', () => {
    const events = numbered(1, [
      { type: 'output', cell_id: 'c1', output: stdout('a\n') },
      { type: 'output', cell_id: 'c1', output: stdout('b\r') },
      { type: 'output', cell_id: 'c1', output: stdout('c\n') },
      { type: 'output', cell_id: 'c1', output: stderr('x') },
      { type: 'output', cell_id: 'c2', output: stderr('y') }
    ]);
    const compact = compactEvents(events);
    expect(
      compact.map(e => (e as { output: nbformat.IStream }).output.text)
    ).toEqual(['a\nb\rc\n', 'x', 'y']);
    // the merged event stands for the last one it holds
    expect(compact[0].seq).toBe(3);
  });

  it('drops what a later clear of the batch removes, and makes the clear immediate', () => {
    const frames: Unnumbered<IRunEvent>[] = [];
    for (let i = 0; i < 100; i++) {
      frames.push({ type: 'clear_output', cell_id: 'c1', wait: true });
      frames.push({
        type: 'output',
        cell_id: 'c1',
        output: stdout(`frame ${i}\n`)
      });
    }
    const compact = compactEvents(numbered(1, frames));
    expect(compact).toEqual([
      { type: 'clear_output', cell_id: 'c1', wait: false, seq: 199 },
      { type: 'output', cell_id: 'c1', output: stdout('frame 99\n'), seq: 200 }
    ]);
  });

  it('keeps a clear that waits for an output the batch does not hold', () => {
    const events = numbered(1, [
      { type: 'output', cell_id: 'c1', output: stdout('a\n') },
      { type: 'clear_output', cell_id: 'c1', wait: true }
    ]);
    expect(compactEvents(events)).toEqual(events);
  });
});

describe('NotebookRunModel.applyAll', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each(Array.from({ length: 100 }, (_, i) => i + 1))(
    'leaves the model as the events one by one do (seed %i)',
    seed => {
      const events = numbered(2, randomEvents(seeded(seed), 60));
      const one = attachedNotebook();
      const batched = attachedNotebook();
      one.view.apply(snapshot(1));
      batched.view.apply(snapshot(1));
      for (const event of events) {
        one.view.apply(event);
      }
      // in batches of random sizes, as frames would cut them
      const random = seeded(seed * 7919);
      let rest = events;
      while (rest.length > 0) {
        const size = 1 + Math.floor(random() * 20);
        expect(batched.view.applyAll(rest.slice(0, size))).toEqual(
          rest.slice(0, size).map(() => true)
        );
        rest = rest.slice(size);
      }
      expect(state(batched.model)).toEqual(state(one.model));
      expect(batched.view.lastSeq).toBe(one.view.lastSeq);
      for (const view of [one, batched]) {
        view.view.dispose();
        view.model.dispose();
      }
    }
  );

  it('adds a batch of fragments to the model as one change', () => {
    const { model, view } = attachedNotebook();
    view.apply(snapshot(1, { outputs: { c1: [] } }));
    const changes = jest.fn();
    cell(model, 'c1').outputs.changed.connect(changes);
    const fragments = Array.from({ length: 50 }, (_, i) => ({
      type: 'output' as const,
      cell_id: 'c1',
      output: stdout(`line ${i}\n`)
    }));
    view.applyAll(numbered(2, fragments));
    expect(changes).toHaveBeenCalledTimes(1);
    expect(outputs(model, 'c1')).toEqual([
      stdout(fragments.map(f => f.output.text).join(''))
    ]);
    view.dispose();
    model.dispose();
  });

  it('renders a cell once when catch-ups of the batch replace its outputs', () => {
    // what the server sends a page that falls behind: catch-up snapshots of c1
    const batch: IRunEvent[] = [
      ...numbered(2, [
        { type: 'output', cell_id: 'c1', output: stdout('a\n') },
        { type: 'output', cell_id: 'c2', output: stdout('z\n') }
      ]),
      snapshot(5, { outputs: { c1: [stdout('a\nb\n')] } }),
      ...numbered(6, [
        { type: 'output', cell_id: 'c1', output: stdout('c\n') },
        { type: 'clear_output', cell_id: 'c1', wait: true }
      ]),
      snapshot(9, {
        outputs: { c1: [stdout('a\nb\nc\nd\n')] },
        clear_pending: ['c1']
      }),
      ...numbered(10, [
        { type: 'output', cell_id: 'c1', output: stdout('e\n') }
      ])
    ];
    const shown = (model: NotebookModel) => {
      const texts: string[] = [];
      cell(model, 'c1').outputs.changed.connect(() =>
        texts.push(JSON.stringify(outputs(model, 'c1')))
      );
      return texts;
    };
    const one = attachedNotebook();
    const batched = attachedNotebook();
    for (const { view } of [one, batched]) {
      view.apply(snapshot(1, { outputs: { c1: [] } }));
    }
    const oneShown = shown(one.model);
    const batchedShown = shown(batched.model);
    for (const event of batch) {
      one.view.apply(event);
    }
    expect(batched.view.applyAll(batch)).toEqual(batch.map(() => true));

    expect(state(batched.model)).toEqual(state(one.model));
    expect(outputs(batched.model, 'c1')).toEqual([stdout('e\n')]);
    expect(batched.view.lastSeq).toBe(10);
    // the first catch-up's text was shown one by one, never in the batch
    const first = JSON.stringify([stdout('a\nb\n')]);
    expect(oneShown).toContain(first);
    expect(batchedShown).not.toContain(first);
    expect(batchedShown.length).toBeLessThan(oneShown.length);
    for (const { view, model } of [one, batched]) {
      view.dispose();
      model.dispose();
    }
  });

  it('stops at a gap and asks for a snapshot', () => {
    const { model, view } = attachedNotebook();
    view.apply(snapshot(1, { outputs: { c1: [] } }));
    const resync = jest.fn();
    view.resyncRequested.connect(resync);
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const applied = view.applyAll([
      { seq: 2, type: 'output', cell_id: 'c1', output: stdout('a\n') },
      { seq: 4, type: 'output', cell_id: 'c1', output: stdout('b\n') },
      { seq: 5, type: 'output', cell_id: 'c1', output: stdout('c\n') }
    ]);
    expect(applied).toEqual([true, false, false]);
    expect(resync).toHaveBeenCalledTimes(1);
    expect(outputs(model, 'c1')).toEqual([stdout('a\n')]);
    view.dispose();
    model.dispose();
  });
});

describe('FrameBatch', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('hands over what arrived within a frame at once, in order', () => {
    const batches: number[][] = [];
    const batch = new FrameBatch<number>(items => batches.push(items));
    batch.push(1);
    batch.push(2);
    batch.push(3);
    expect(batches).toEqual([]);
    jest.advanceTimersByTime(20);
    expect(batches).toEqual([[1, 2, 3]]);
    batch.push(4);
    batch.flush();
    expect(batches).toEqual([[1, 2, 3], [4]]);
    batch.push(5);
    batch.dispose();
    jest.advanceTimersByTime(20);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('pauses twice as long as a hand-over took before the next one', () => {
    let clock = 0;
    let took = 100; // how long rendering a batch takes, in ms
    const batches: number[][] = [];
    const batch = new FrameBatch<number>(
      items => {
        batches.push(items);
        clock += took;
      },
      { now: () => clock }
    );
    batch.push(1);
    jest.advanceTimersByTime(20);
    expect(batches).toEqual([[1]]);
    // 200 ms of pause from the end of that hand-over, then a frame
    batch.push(2);
    batch.push(3);
    jest.advanceTimersByTime(150);
    expect(batches).toEqual([[1]]);
    jest.advanceTimersByTime(100);
    expect(batches).toEqual([[1], [2, 3]]);
    // a hand-over of 10 s pauses a second, not 20
    took = 10000;
    batch.push(4);
    jest.advanceTimersByTime(250);
    expect(batches).toEqual([[1], [2, 3], [4]]);
    batch.push(5);
    jest.advanceTimersByTime(900);
    expect(batches).toEqual([[1], [2, 3], [4]]);
    jest.advanceTimersByTime(200);
    expect(batches).toEqual([[1], [2, 3], [4], [5]]);
    batch.dispose();
  });
});
