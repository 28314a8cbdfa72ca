/**
 * The events of a run as the server sends them on its events socket
 * (docs/rest-api.md), and the parsing of one message.
 */

import type * as nbformat from '@jupyterlab/nbformat';

import type { PartialJSONObject } from '@lumino/coreutils';

import { parseJsonObject } from './json';
import { CellStatus, IRun } from './rest';

/**
 * The timing keys JupyterLab records in a cell's `metadata.execution`.
 */
export type ExecutionTiming = { [key: string]: string };

/**
 * The file as a `flushed` event describes it: it holds every event up to `upto`.
 */
export interface IFlushState {
  upto: number;
  /** ISO 8601 UTC, as the contents API reports it. */
  last_modified: string;
  /**
   * sha256 of the file, as the contents API reports it; null when the server did not
   * write the file itself (`destination`).
   */
  hash: string | null;
  /**
   * Where the server put the events: absent or `file` for the file on disk;
   * `shared_document` for the collaborative document of a room that has the notebook
   * open (the room saves the file).
   */
  destination?: string;
}

/**
 * The first message of every events socket.
 *
 * Without `since`, `outputs` holds each started cell's outputs as the file will hold
 * them, as of `seq`. With `since`, `replay_from` is set and `outputs` is absent: the
 * events after `replay_from` follow.
 *
 * `flushed`, `execution`, `displays` and `clear_pending` are optional: servers that
 * send them let a client that attaches mid-run match the file's hash at once, show the
 * timings of cells finished since it loaded the file, apply display updates to outputs
 * shown before it attached, and honour a `clear_output(wait=True)` still pending.
 */
export interface ISnapshotEvent {
  seq: number;
  type: 'snapshot';
  run: IRun;
  outputs?: { [cellId: string]: nbformat.IOutput[] };
  replay_from?: number;
  flushed?: IFlushState | null;
  execution?: { [cellId: string]: ExecutionTiming };
  /** display id -> cell id -> indices of that cell's outputs showing it. */
  displays?: { [displayId: string]: { [cellId: string]: number[] } };
  clear_pending?: string[];
}

/**
 * A change of the run's status or kernel (the run comes without `cells`).
 */
export interface IRunChangedEvent {
  seq: number;
  type: 'run';
  run: IRun;
}

/**
 * A cell starts: its outputs, execution count and timings are cleared.
 */
export interface ICellStartEvent {
  seq: number;
  type: 'cell_start';
  cell_id: string;
  started: string;
}

/**
 * One output; stream outputs are fragments, merged as JupyterLab merges them.
 */
export interface IOutputEvent {
  seq: number;
  type: 'output';
  cell_id: string;
  output: nbformat.IOutput;
  display_id?: string;
}

/**
 * `clear_output`; with `wait`, the clear happens at the cell's next output.
 */
export interface IClearOutputEvent {
  seq: number;
  type: 'clear_output';
  cell_id: string;
  wait: boolean;
}

/**
 * Every output showing `display_id`, in any cell, takes `output`'s data and metadata.
 */
export interface IUpdateDisplayEvent {
  seq: number;
  type: 'update_display';
  cell_id: string;
  display_id: string;
  output: {
    output_type?: string;
    data: nbformat.IMimeBundle;
    metadata: nbformat.OutputMetadata;
  };
}

/**
 * A cell ends, with the kernel's execution count and JupyterLab's timing metadata.
 */
export interface ICellEndEvent {
  seq: number;
  type: 'cell_end';
  cell_id: string;
  status: CellStatus;
  execution_count: number | null;
  execution: ExecutionTiming;
  finished: string | null;
}

/**
 * The file on disk now holds every event up to `upto`.
 */
export interface IFlushedEvent extends IFlushState {
  seq: number;
  type: 'flushed';
}

/**
 * Notebook metadata the run sets (`metadata`: the kernel's `language_info`, the state of
 * its widgets) and sets only where the notebook has none (`defaults`: `kernelspec`).
 * The file (or the shared document) gets them from the server, and a page's save keeps
 * them there: a page has nothing to apply.
 */
export interface IMetadataEvent {
  seq: number;
  type: 'metadata';
  metadata: PartialJSONObject;
  defaults: PartialJSONObject;
}

/**
 * A message of the events socket.
 */
export type IRunEvent =
  | ISnapshotEvent
  | IRunChangedEvent
  | ICellStartEvent
  | IOutputEvent
  | IClearOutputEvent
  | IUpdateDisplayEvent
  | ICellEndEvent
  | IMetadataEvent
  | IFlushedEvent;

const EVENT_TYPES: ReadonlySet<string> = new Set([
  'snapshot',
  'run',
  'cell_start',
  'output',
  'clear_output',
  'update_display',
  'cell_end',
  'metadata',
  'flushed'
]);

/**
 * Parse one message of the events socket; null if it is not a known event.
 *
 * Only the envelope (`seq`, `type`) is checked: the fields of each type are the
 * server's contract (docs/rest-api.md).
 */
export function parseRunEvent(text: string): IRunEvent | null {
  const data = parseJsonObject(text);
  if (data === null) {
    return null;
  }
  const { seq, type } = data;
  if (
    typeof seq !== 'number' ||
    !Number.isInteger(seq) ||
    typeof type !== 'string' ||
    !EVENT_TYPES.has(type)
  ) {
    return null;
  }
  return data as unknown as IRunEvent;
}
