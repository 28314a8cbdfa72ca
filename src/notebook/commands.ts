import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { cancelRun, IRun, startRun } from '../api/rest';
import { runInBackgroundIcon } from '../icons';
import { INotebookRuns } from '../tokens';
import { isCollaborative } from './filestate';

/**
 * The command ids of the notebook side of jupyter_lapd (DESIGN.md).
 */
export namespace CommandIDs {
  export const runAll = 'lapd:run-all-in-background';
  export const runSelected = 'lapd:run-selected-in-background';
  export const runBelow = 'lapd:run-below-in-background';
  export const cancel = 'lapd:cancel-run';
}

/**
 * Which cells a command runs: all, the selected ones, or the active one and below.
 */
export type CellChoice = 'all' | 'selected' | 'below';

/**
 * What a command needs to know of a cell to pick it.
 */
export interface ICellChoiceInput {
  id: string;
  type: string;
  selected: boolean;
}

/**
 * The ids of the code cells to run, in notebook order.
 *
 * @param cells The notebook's cells, in order.
 * @param activeIndex The index of the active cell (for `below`).
 */
export function pickCells(
  cells: readonly ICellChoiceInput[],
  activeIndex: number,
  choice: CellChoice
): string[] {
  return cells
    .filter((cell, index) => {
      if (cell.type !== 'code') {
        return false;
      }
      switch (choice) {
        case 'all':
          return true;
        case 'selected':
          return cell.selected;
        case 'below':
          return index >= activeIndex;
      }
    })
    .map(cell => cell.id);
}

/**
 * Everything the commands use.
 */
export interface ICommandsOptions {
  tracker: INotebookTracker;
  runs: INotebookRuns;
  /** Use `app.serviceManager.serverSettings`. */
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
  palette: ICommandPalette | null;
  /** Called after a run was started or cancelled, e.g. to refresh a runs list. */
  onRunsChanged?: () => void;
}

/**
 * Register the run and cancel commands, and keep their enabled state current.
 *
 * Menus, the context menu, the toolbar button and the shortcut come from the plugin's
 * settings schema (schema/plugin.json).
 */
export function addCommands(
  app: JupyterFrontEnd,
  options: ICommandsOptions
): void {
  const { tracker, runs, serverSettings, trans, palette } = options;
  const { commands, shell } = app;

  /** The notebook the commands act on: the current one, if it is in front. */
  const current = (): NotebookPanel | null => {
    const panel = tracker.currentWidget;
    if (
      panel === null ||
      panel !== shell.currentWidget ||
      !panel.context.isReady ||
      panel.context.path === ''
    ) {
      return null;
    }
    return panel;
  };

  const runInBackground = async (choice: CellChoice): Promise<void> => {
    const panel = current();
    if (panel === null) {
      return;
    }
    const notebook = panel.content;
    const cells = pickCells(
      notebook.widgets.map(cell => ({
        id: cell.model.id,
        type: cell.model.type,
        selected: notebook.isSelectedOrActive(cell)
      })),
      notebook.activeCellIndex,
      choice
    );
    const name = PathExt.basename(panel.context.path);
    if (cells.length === 0) {
      await showErrorMessage(
        trans.__('Nothing to run in the background'),
        trans.__('%1 has no code cell to run there.', name)
      );
      return;
    }
    // The run executes the file on disk: save first, so it runs what the user sees.
    // A collaborative notebook needs no save: the server runs its shared document, and
    // the room saves it on its own schedule (a save racing the room's can be refused).
    try {
      if (!isCollaborative(panel.context)) {
        await panel.context.save();
      }
    } catch (reason) {
      // JupyterLab has told the user why (or the user cancelled the save).
      console.error(
        `jupyter_lapd: not running ${name}: it was not saved`,
        reason
      );
      return;
    }
    let run: IRun;
    try {
      // The server knows paths on its own drive, without a drive prefix.
      run = await startRun(serverSettings, {
        path: panel.context.localPath,
        cells
      });
    } catch (reason) {
      console.error(`jupyter_lapd: cannot start a run of ${name}`, reason);
      await showErrorMessage(
        trans.__('Cannot run %1 in the background', name),
        reason as Error
      );
      return;
    }
    runs.follow(panel.context, run);
    options.onRunsChanged?.();
  };

  const cancel = async (): Promise<void> => {
    const panel = current();
    const run = panel === null ? null : runs.activeRun(panel.context);
    if (panel === null || run === null) {
      return;
    }
    try {
      await cancelRun(serverSettings, run.id);
    } catch (reason) {
      console.error(`jupyter_lapd: cannot cancel run ${run.id}`, reason);
      await showErrorMessage(
        trans.__('Cannot cancel the run'),
        reason as Error
      );
      return;
    }
    options.onRunsChanged?.();
  };

  const canRun = (): boolean => current() !== null;
  const noArgs = { args: { type: 'object' as const, properties: {} } };

  commands.addCommand(CommandIDs.runAll, {
    label: trans.__('Run All Cells in Background'),
    caption: trans.__(
      'Save the notebook and run all its code cells on the server: the outputs reach the file even if this page closes'
    ),
    icon: args => (args.isPalette ? undefined : runInBackgroundIcon),
    isEnabled: canRun,
    execute: () => runInBackground('all'),
    describedBy: noArgs
  });
  commands.addCommand(CommandIDs.runSelected, {
    label: trans.__('Run Selected Cells in Background'),
    caption: trans.__(
      'Save the notebook and run the selected code cells on the server'
    ),
    isEnabled: canRun,
    execute: () => runInBackground('selected'),
    describedBy: noArgs
  });
  commands.addCommand(CommandIDs.runBelow, {
    label: trans.__('Run Selected Cell and All Below in Background'),
    caption: trans.__(
      'Save the notebook and run the active code cell and all below it on the server'
    ),
    isEnabled: canRun,
    execute: () => runInBackground('below'),
    describedBy: noArgs
  });
  commands.addCommand(CommandIDs.cancel, {
    label: trans.__('Cancel Background Run'),
    caption: trans.__(
      "Stop this notebook's background run: the running cell is interrupted, the rest skipped"
    ),
    isEnabled: () => {
      const panel = current();
      return panel !== null && runs.activeRun(panel.context) !== null;
    },
    execute: cancel,
    describedBy: noArgs
  });

  const category = trans.__('Background Runs');
  for (const command of Object.values(CommandIDs)) {
    palette?.addItem({ command, category });
  }

  const refresh = () => {
    for (const command of Object.values(CommandIDs)) {
      commands.notifyCommandChanged(command);
    }
  };
  tracker.currentChanged.connect(refresh);
  tracker.widgetAdded.connect((_, panel) => {
    void panel.context.ready.then(refresh);
  });
  shell.currentChanged?.connect(refresh);
  runs.changed.connect(refresh);
}
