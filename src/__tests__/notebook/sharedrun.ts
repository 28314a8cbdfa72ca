/**
 * A collaborative notebook of two code cells and a whole run of it, for the unit tests
 * of runs in shared documents: not a test file (jest's testRegex wants `.spec.ts`).
 */

import * as nbformat from '@jupyterlab/nbformat';
import { NotebookModel } from '@jupyterlab/notebook';

import { IFlushState, IRunEvent } from '../../api/runevents';
import { makeRun, snapshotMaker, stdout } from '../fixtures';

export const RUN = makeRun();

/**
 * A notebook of two code cells, as a collaborative page (or not) has it after loading.
 */
export function makeNotebook(collaborative: boolean): NotebookModel {
  const model = new NotebookModel({ collaborationEnabled: collaborative });
  model.fromJSON({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: ['c1', 'c2'].map(id => ({
      cell_type: 'code',
      id,
      source: `print("${id}")`,
      metadata: {},
      outputs: id === 'c1' ? [stdout('old\n')] : [],
      execution_count: id === 'c1' ? 1 : null
    })) as nbformat.ICell[]
  });
  model.dirty = false;
  return model;
}

export const snapshot = snapshotMaker(RUN, ['c1', 'c2'], () => ({
  c1: [stdout('from the snapshot\n')]
}));

/** A flush into a room's shared document: the server wrote no file. */
export function sharedFlush(upto: number): IFlushState {
  return {
    upto,
    last_modified: '2026-01-01T00:00:05Z',
    hash: null,
    destination: 'shared_document'
  };
}

/** The events of a whole run of c1 and c2, after a snapshot at seq 0. */
export function runEvents(): IRunEvent[] {
  return [
    { seq: 1, type: 'output', cell_id: 'c1', output: stdout('a\n') },
    { seq: 2, type: 'flushed', ...sharedFlush(1) },
    {
      seq: 3,
      type: 'cell_end',
      cell_id: 'c1',
      status: 'done',
      execution_count: 7,
      execution: { 'shell.execute_reply': '2026-01-01T00:00:02Z' },
      finished: null
    },
    { seq: 4, type: 'cell_start', cell_id: 'c2', started: '' },
    { seq: 5, type: 'output', cell_id: 'c2', output: stdout('b\n') },
    {
      seq: 6,
      type: 'cell_end',
      cell_id: 'c2',
      status: 'done',
      execution_count: 8,
      execution: {},
      finished: null
    },
    { seq: 7, type: 'flushed', ...sharedFlush(6) },
    { seq: 8, type: 'run', run: { ...RUN, status: 'completed' } }
  ];
}
