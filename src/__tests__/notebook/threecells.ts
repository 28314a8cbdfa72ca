/**
 * The three-cell notebook the NotebookRunModel unit tests attach a run to: not a
 * test file (jest's testRegex wants `.spec.ts`).
 */

import * as nbformat from '@jupyterlab/nbformat';
import { NotebookModel } from '@jupyterlab/notebook';

import { NotebookRunModel } from '../../notebook/notebookrun';
import { makeRun, snapshotMaker, stdout } from '../fixtures';

export const RUN = makeRun({ cells_total: 3 });

export const snapshot = snapshotMaker(RUN, ['c1', 'c2', 'c3']);

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

/**
 * A notebook of three code cells and a markdown cell, clean, as loaded from a file.
 */
export function threeCellNotebook(
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

/**
 * The notebook with stored outputs in c1 and c2, and a run's model attached to it.
 */
export function attachedNotebook(): {
  model: NotebookModel;
  view: NotebookRunModel;
} {
  const model = threeCellNotebook({
    c1: [stdout('old c1\n')],
    c2: [stdout('old c2\n')]
  });
  return { model, view: new NotebookRunModel({ model, run: RUN }) };
}
