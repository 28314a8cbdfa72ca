/**
 * The tokens of the plugins of this extension (and the runs panel's ids), in one
 * place so that notebook/ and runs/ can require each other's services without
 * importing each other.
 */

import { DocumentRegistry } from '@jupyterlab/docregistry';
import { VDomRenderer } from '@jupyterlab/ui-components';
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import { IRun } from './api/rest';

/**
 * The command that shows the runs side panel.
 */
export const OPEN_RUNS_PANEL_COMMAND = 'lapd:open-runs-panel';

/**
 * The DOM id of the runs side panel.
 */
export const RUNS_PANEL_ID = 'lapd-runs-panel';

/**
 * The list of this server's runs, polled while the page is visible; `stateChanged`
 * is emitted whenever runs, loaded or error change.
 *
 * Plugins that start or cancel runs may call `refresh()` so that the panel, the status
 * bar item and the end-of-run notifications follow at once instead of at the next poll.
 */
export interface IRunsModel extends VDomRenderer.IModel {
  /** Every run the server lists, newest first; empty until the first answer. */
  readonly runs: readonly IRun[];
  /** Queued and running runs, newest first. */
  readonly activeRuns: readonly IRun[];
  /** Whether the server has answered at least once. */
  readonly loaded: boolean;
  /** The message of the last failed listing, null once a listing succeeds. */
  readonly error: string | null;
  /** Emitted after each listing the server answered, with its runs. */
  readonly listed: ISignal<IRunsModel, readonly IRun[]>;
  /**
   * Whether the runs panel is on screen (set by the panel): runs are listed every
   * 2 s while it is, or while a run is active, and every 10 s otherwise.
   */
  panelVisible: boolean;
  /** List the runs now; resolves once the answer is applied. */
  refresh(): Promise<void>;
  /** Ask the server to cancel a run; rejects with the server's error. */
  cancel(runId: string): Promise<IRun>;
}

/**
 * The runs model token, provided by `jupyter-lapd:runs-model`.
 */
export const IRunsModel = new Token<IRunsModel>(
  'jupyter-lapd:IRunsModel',
  'The list of background runs of this server, polled while the page is visible.'
);

/**
 * The runs that the open notebooks follow.
 */
export interface INotebookRuns {
  /**
   * The active run this notebook follows, if any.
   */
  activeRun(context: DocumentRegistry.Context): IRun | null;
  /**
   * Follow a run of this notebook, e.g. one the page has just started.
   */
  follow(context: DocumentRegistry.Context, run: IRun): void;
  /**
   * Emitted when a notebook starts or stops following a run, or its run changes.
   */
  readonly changed: ISignal<INotebookRuns, DocumentRegistry.Context>;
}

/**
 * The token of the runs the open notebooks follow.
 */
export const INotebookRuns = new Token<INotebookRuns>(
  'jupyter-lapd:INotebookRuns',
  'The background runs followed by the open notebooks, whose outputs stream into them.'
);
