/**
 * A run's events gathered for one animation frame and shortened to what the page will
 * show at the end of it.
 *
 * A run can send thousands of events a second (a tight `print` loop, a progress bar
 * redrawn at every step, a `clear_output(wait=True)` animation). Applied one by one,
 * each re-renders its cell's whole output, many times per frame, and the page freezes.
 * Gathered per frame, a cell's stream fragments become one fragment, and the outputs
 * that a later `clear_output` of the same batch removes are never shown at all: the
 * page renders once per frame what it would have shown at the end of that frame.
 */

import type * as nbformat from '@jupyterlab/nbformat';

import { IOutputEvent, IRunEvent, ISnapshotEvent } from '../api/runevents';

/**
 * The events of a batch, in order, without the ones whose effect a later event of the
 * same batch undoes, and with adjacent stream fragments of one cell and stream merged.
 *
 * The result leaves a notebook model exactly as the events one by one would have (the
 * server's outputs in the file do not depend on it): for each cell, the outputs and
 * clears before its last clear that takes effect within the batch (`wait=False`, or
 * `wait=True` followed by an output of that cell) are dropped, and that clear becomes
 * an immediate one.
 */
export function compactEvents(events: IRunEvent[]): IRunEvent[] {
  // cell id -> index of its last clear that takes effect within the batch
  const cleared = new Map<string, number>();
  const waiting = new Map<string, number>();
  events.forEach((event, index) => {
    switch (event.type) {
      case 'clear_output':
        if (event.wait) {
          waiting.set(event.cell_id, index);
        } else {
          cleared.set(event.cell_id, index);
          waiting.delete(event.cell_id);
        }
        break;
      case 'output': {
        const wait = waiting.get(event.cell_id);
        if (wait !== undefined) {
          cleared.set(event.cell_id, wait);
          waiting.delete(event.cell_id);
        }
        break;
      }
    }
  });
  const kept: IRunEvent[] = [];
  events.forEach((event, index) => {
    if (event.type === 'output' || event.type === 'clear_output') {
      const clear = cleared.get(event.cell_id);
      if (clear !== undefined && index < clear) {
        return; // a later clear of this batch removes it
      } else if (clear === index && event.type === 'clear_output') {
        event = { ...event, wait: false };
      }
    }
    const last = kept[kept.length - 1];
    if (event.type === 'output' && last?.type === 'output') {
      const merged = mergeStreams(last, event);
      if (merged !== null) {
        kept[kept.length - 1] = merged;
        return;
      }
    }
    kept.push(event);
  });
  return kept;
}

/**
 * For each event of a batch, the cells whose outputs a later full snapshot of the batch
 * replaces (a catch-up the server sent in place of events: `?catchup=1`), or null.
 *
 * Their outputs and clears before that snapshot would be rendered only to be replaced
 * within the same frame: `NotebookRunModel.applyAll` skips them, and strips them from
 * earlier snapshots (`withoutCells`), so that each cell is rendered at most once.
 */
export function replacedLater(
  events: readonly IRunEvent[]
): (ReadonlySet<string> | null)[] {
  const replaced: (ReadonlySet<string> | null)[] = new Array(events.length);
  let later: ReadonlySet<string> | null = null;
  for (let index = events.length - 1; index >= 0; index--) {
    replaced[index] = later;
    const event = events[index];
    if (
      event.type === 'snapshot' &&
      event.replay_from === undefined &&
      event.outputs !== undefined
    ) {
      later = new Set([...(later ?? []), ...Object.keys(event.outputs)]);
    }
  }
  return replaced;
}

/**
 * Whether `event` adds or clears outputs of one of `cells`.
 */
export function changesOutputsOf(
  event: IRunEvent,
  cells: ReadonlySet<string>
): boolean {
  return (
    (event.type === 'output' || event.type === 'clear_output') &&
    cells.has(event.cell_id)
  );
}

/**
 * A snapshot without the outputs (and their display ids and pending clears) of `cells`.
 */
export function withoutCells(
  snapshot: ISnapshotEvent,
  cells: ReadonlySet<string>
): ISnapshotEvent {
  const keep = <T>(entries: { [cellId: string]: T }) => {
    const kept: { [cellId: string]: T } = {};
    for (const cellId of Object.keys(entries)) {
      if (!cells.has(cellId)) {
        kept[cellId] = entries[cellId];
      }
    }
    return kept;
  };
  let displays = snapshot.displays;
  if (displays !== undefined) {
    const shown = displays;
    displays = {};
    for (const id of Object.keys(shown)) {
      displays[id] = keep(shown[id]);
    }
  }
  return {
    ...snapshot,
    outputs: snapshot.outputs && keep(snapshot.outputs),
    displays,
    clear_pending: snapshot.clear_pending?.filter(cellId => !cells.has(cellId))
  };
}

/**
 * Two adjacent stream fragments of one cell and stream as one; null when they are not.
 */
function mergeStreams(
  first: IOutputEvent,
  second: IOutputEvent
): IOutputEvent | null {
  const a = first.output;
  const b = second.output;
  if (
    first.cell_id !== second.cell_id ||
    first.display_id ||
    second.display_id ||
    a.output_type !== 'stream' ||
    b.output_type !== 'stream' ||
    (a as nbformat.IStream).name !== (b as nbformat.IStream).name
  ) {
    return null;
  }
  const text = (output: nbformat.IOutput) => {
    const value = (output as nbformat.IStream).text;
    return Array.isArray(value) ? value.join('') : value;
  };
  return {
    ...second,
    output: { ...b, text: text(a) + text(b) } as nbformat.IStream
  };
}

/**
 * Gathers events as they arrive and hands them over once per animation frame, so that
 * the page applies (and renders) a run's output at most once per frame, however fast
 * the run sends it.
 *
 * A hand-over that took long (JupyterLab renders a stream's whole text at each change,
 * and megabytes of it take hundreds of milliseconds) is followed by a pause of twice
 * its length, up to a second: the page then spends at most a third of its time on the
 * run's output, and stays responsive in between, where applying every frame would keep it
 * busy all along.
 */
export class FrameBatch<T> {
  constructor(apply: (items: T[]) => void, options: FrameBatch.IOptions = {}) {
    this._apply = apply;
    this._now = options.now ?? (() => performance.now());
  }

  /**
   * Add one item; the batch is handed over at the next animation frame (after the
   * pause that follows a long hand-over).
   */
  push(item: T): void {
    this._items.push(item);
    if (this._frame === null) {
      const wait = this._readyAt - this._now();
      this._frame =
        wait > 0
          ? {
              timer: setTimeout(() => {
                this._frame = schedule(() => this.flush());
              }, wait)
            }
          : schedule(() => this.flush());
    }
  }

  /**
   * Hand over what is gathered now (a socket closing, the page leaving).
   */
  flush(): void {
    if (this._frame !== null) {
      cancel(this._frame);
      this._frame = null;
    }
    const items = this._items;
    if (items.length === 0) {
      return;
    }
    this._items = [];
    const start = this._now();
    try {
      this._apply(items);
    } finally {
      const end = this._now();
      this._readyAt =
        end + Math.min((end - start) * FrameBatch.PAUSE, FrameBatch.MAX_PAUSE);
    }
  }

  /**
   * Drop what is gathered and stop.
   */
  dispose(): void {
    if (this._frame !== null) {
      cancel(this._frame);
      this._frame = null;
    }
    this._items = [];
  }

  private _apply: (items: T[]) => void;
  private _now: () => number;
  private _readyAt = -Infinity;
  private _items: T[] = [];
  private _frame: Handle | null = null;
}

/**
 * The namespace for `FrameBatch` statics.
 */
export namespace FrameBatch {
  /** The pause after a hand-over, as a multiple of the time the hand-over took. */
  export const PAUSE = 2;
  /** The longest pause, in milliseconds: the page shows the run at least this often. */
  export const MAX_PAUSE = 1000;

  export interface IOptions {
    /** The clock, in milliseconds (default: `performance.now`). */
    now?: () => number;
  }
}

// A page in a background tab gets no animation frames: there (and without
// requestAnimationFrame, in tests) a timer, which the browser runs at most once a second
// in a background tab, so the events do not pile up until the tab is shown.
type Handle = { frame: number } | { timer: ReturnType<typeof setTimeout> };

function schedule(callback: () => void): Handle {
  const hidden = typeof document !== 'undefined' && document.hidden;
  return typeof requestAnimationFrame === 'function' && !hidden
    ? { frame: requestAnimationFrame(callback) }
    : { timer: setTimeout(callback, 16) };
}

function cancel(handle: Handle): void {
  if ('frame' in handle) {
    cancelAnimationFrame(handle.frame);
  } else {
    clearTimeout(handle.timer);
  }
}
