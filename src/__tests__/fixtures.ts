/**
 * Fixtures and helpers shared by the unit tests: runs, outputs, notebook cells, run
 * snapshots and a loaded contents model. Not a test file (jest's testRegex wants
 * `.spec.ts`).
 */

import { ICodeCellModel } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { NotebookModel } from '@jupyterlab/notebook';
import { Contents } from '@jupyterlab/services';

import { IRun } from '../api/rest';
import { IRunEvent, ISnapshotEvent } from '../api/runevents';
import { NotebookRunModel } from '../notebook/notebookrun';

/**
 * A run of `nb.ipynb` in a session kernel, running its first cell; `fields` override.
 */
export function makeRun(fields: Partial<IRun> = {}): IRun {
  return {
    id: 'r1',
    path: 'nb.ipynb',
    status: 'running',
    kernel_mode: 'session',
    kernel_id: 'k1',
    kernel_name: 'python3',
    created: '2026-01-01T00:00:00Z',
    started: '2026-01-01T00:00:01Z',
    finished: null,
    cells_total: 2,
    cells_done: 0,
    current_cell_id: 'c1',
    error: null,
    ...fields
  };
}

export function stdout(text: string): nbformat.IStream {
  return { output_type: 'stream', name: 'stdout', text };
}

export function cell(model: NotebookModel, id: string): ICodeCellModel {
  for (const c of model.cells) {
    if (c.id === id) {
      return c as ICodeCellModel;
    }
  }
  throw new Error(`no cell ${id}`);
}

export function outputs(model: NotebookModel, id: string): nbformat.IOutput[] {
  return cell(model, id).outputs.toJSON();
}

/**
 * A maker of snapshots of `run` with its first cell running and the others queued,
 * each with fresh `cellOutputs()` unless the snapshot's `extra` fields say otherwise.
 */
export function snapshotMaker(
  run: IRun,
  cellIds: string[],
  cellOutputs: () => ISnapshotEvent['outputs'] = () => ({})
): (seq: number, extra?: Partial<ISnapshotEvent>) => ISnapshotEvent {
  return (seq, extra = {}) => ({
    seq,
    type: 'snapshot',
    run: {
      ...run,
      cells: cellIds.map((id, i) => ({
        id,
        status: i === 0 ? 'running' : 'queued',
        execution_count: null,
        started: null,
        finished: null
      }))
    },
    outputs: cellOutputs(),
    ...extra
  });
}

/**
 * The contents model of a notebook at `path` as the page loaded it, with its hash.
 */
export function loadedModel(path: string): Contents.IModel {
  return {
    name: 'nb.ipynb',
    path,
    type: 'notebook',
    writable: true,
    created: '2026-01-01T00:00:00Z',
    last_modified: '2026-01-01T00:00:01Z',
    mimetype: 'application/x-ipynb+json',
    format: null,
    content: null,
    hash: 'loaded',
    hash_algorithm: 'sha256'
  };
}

/** Events carry their seq; tests write them without and number them in order. */
export type Unnumbered<T> = T extends IRunEvent ? Omit<T, 'seq'> : never;

export function display(text: string): nbformat.IDisplayData {
  return {
    output_type: 'display_data',
    data: { 'text/plain': text },
    metadata: {}
  };
}

/**
 * Feeds events to a view, numbering them from `first`.
 */
export function feed(
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

/**
 * Animation frames run by hand: the page applies a run's events once per frame
 * (FrameBatch), and a test runs the frame when it wants the events applied. The clock
 * stands still, so that no hand-over counts as slow and pauses the next one.
 */
export function manualFrames(): { run: () => void; restore: () => void } {
  const g = globalThis as {
    requestAnimationFrame?: (callback: FrameRequestCallback) => number;
    cancelAnimationFrame?: (handle: number) => void;
  };
  const request = g.requestAnimationFrame;
  const cancel = g.cancelAnimationFrame;
  let waiting = new Map<number, FrameRequestCallback>();
  let next = 1;
  g.requestAnimationFrame = callback => {
    waiting.set(next, callback);
    return next++;
  };
  g.cancelAnimationFrame = handle => waiting.delete(handle);
  const now = jest.spyOn(performance, 'now').mockReturnValue(0);
  return {
    run: () => {
      const callbacks = [...waiting.values()];
      waiting = new Map();
      callbacks.forEach(callback => callback(0));
    },
    restore: () => {
      g.requestAnimationFrame = request;
      g.cancelAnimationFrame = cancel;
      now.mockRestore();
    }
  };
}
