/**
 * The marks a notebook's views show of the run the notebook follows: the cells the run
 * will execute later ("queued"), and the panel's class that renders its streams in
 * chunks (`ChunkedText`).
 */

import { Cell } from '@jupyterlab/cells';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookTracker } from '@jupyterlab/notebook';

import { FOLLOWING_CLASS } from './chunkedtext';
import { NotebookRunModel } from './notebookrun';

/**
 * The class of a cell that a run will execute later.
 */
export const QUEUED_CLASS = 'jp-lapd-queued';

/**
 * The attribute of a queued cell's prompt holding the (translated) marker text.
 */
export const QUEUED_LABEL_ATTRIBUTE = 'data-lapd-label';

/**
 * Mark the queued cells of every view of the document, and unmark the others; mark
 * the views that follow a run (their streams render in chunks: `ChunkedText`).
 *
 * The running cell is rendered now if the notebook has not rendered it yet: a
 * notebook just opened renders the cells out of view one after another when the page
 * is idle, in order, and the last cell of a notebook holding megabytes of earlier
 * outputs would show the run live only seconds later.
 *
 * @param view - the run the document follows, or undefined if it follows none.
 * @param label - the (translated) text of the "queued" marker.
 */
export function markViews(
  tracker: INotebookTracker,
  context: DocumentRegistry.Context,
  view: NotebookRunModel | undefined,
  label: string
): void {
  const queued = new Set(view?.queuedCellIds ?? []);
  tracker.forEach(panel => {
    if (panel.context !== context) {
      return;
    }
    panel.toggleClass(FOLLOWING_CLASS, view !== undefined);
    panel.content.widgets.forEach((cell, index) => {
      markQueued(cell, queued.has(cell.model.id), label);
      if (
        cell.isPlaceholder() &&
        view?.cellStatus(cell.model.id) === 'running'
      ) {
        panel.content.renderCellOutputs(index);
      }
    });
  });
}

/**
 * Show or hide the "queued" marker of a cell.
 */
function markQueued(cell: Cell, queued: boolean, label: string): void {
  cell.toggleClass(QUEUED_CLASS, queued);
  const prompt = cell.promptNode;
  if (prompt === null) {
    return;
  }
  if (queued) {
    prompt.setAttribute(QUEUED_LABEL_ATTRIBUTE, label);
  } else {
    prompt.removeAttribute(QUEUED_LABEL_ATTRIBUTE);
  }
}
