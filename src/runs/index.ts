import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { IRun } from '../api/rest';
/* eslint-disable jupyter/prefer-lazy-imports -- activation needs these at once: the
   model lists runs from the start, the panel's tab and the status item show before any
   click, and the notifier must see the first listing to announce what ended meanwhile. */
import { runsIcon } from '../icons';
import { LocalStorageLedger } from './announce';
import { RunsModel } from './model';
import { RunNotifier } from './notifier';
import { RunsPanel } from './panel';
import { RunsStatusItem } from './statusitem';
/* eslint-enable jupyter/prefer-lazy-imports */
import { IRunsModel, OPEN_RUNS_PANEL_COMMAND, RUNS_PANEL_ID } from '../tokens';

export { IRunsModel, OPEN_RUNS_PANEL_COMMAND, RUNS_PANEL_ID } from '../tokens';

/**
 * Rank of the runs panel in the left area (JupyterLab's own panels use 100-700).
 */
const PANEL_RANK = 750;

/**
 * Lists this server's runs while the page is visible, for the panel, the status bar
 * item and the notifications.
 */
const modelPlugin: JupyterFrontEndPlugin<IRunsModel> = {
  id: 'jupyter-lapd:runs-model',
  description:
    'Lists the background runs of this server while the page is visible.',
  autoStart: true,
  provides: IRunsModel,
  activate: (app: JupyterFrontEnd): IRunsModel =>
    new RunsModel({ serverSettings: app.serviceManager.serverSettings })
};

/**
 * The runs side panel and the command that shows it.
 *
 * ILayoutRestorer is optional: Jupyter Notebook 7 has none. A shell without a left
 * area gets the panel in a dialog instead.
 */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-lapd:runs-panel',
  description:
    'A side panel listing active and recent background runs, and the lapd:open-runs-panel command.',
  autoStart: true,
  requires: [IRunsModel],
  optional: [ILayoutRestorer, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    runs: IRunsModel,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_lapd');
    const createPanel = (): RunsPanel =>
      new RunsPanel({
        model: runs,
        trans,
        onOpen: path => openNotebook(app, trans, path),
        onCancel: run => cancelRun(runs, trans, run)
      });

    const panel = createPanel();
    const inSidebar = addToLeftArea(app, panel);
    if (inSidebar) {
      restorer?.add(panel, RUNS_PANEL_ID);
    } else {
      panel.dispose();
      console.info(
        'jupyter_lapd: this application has no left area; the runs panel opens in a dialog'
      );
    }

    app.commands.addCommand(OPEN_RUNS_PANEL_COMMAND, {
      label: trans.__('Show Background Runs'),
      caption: trans.__(
        'Show the notebooks running in the background, and the recent runs'
      ),
      icon: args => (args.isPalette ? undefined : runsIcon),
      execute: async () => {
        if (inSidebar) {
          app.shell.activateById(RUNS_PANEL_ID);
          return;
        }
        await showDialog({
          title: trans.__('Background runs'),
          body: createPanel(),
          buttons: [Dialog.okButton({ label: trans.__('Close') })]
        });
      },
      describedBy: { args: { type: 'object', properties: {} } }
    });
    palette?.addItem({
      command: OPEN_RUNS_PANEL_COMMAND,
      category: trans.__('Background Runs')
    });
  }
};

/**
 * The status bar item counting active runs; JupyterLab only (Notebook 7 has no status
 * bar, hence IStatusBar is optional).
 */
const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-lapd:runs-status',
  description:
    'A status bar item showing how many notebooks run in the background.',
  autoStart: true,
  requires: [IRunsModel],
  optional: [IStatusBar, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    runs: IRunsModel,
    statusBar: IStatusBar | null,
    translator: ITranslator | null
  ): void => {
    if (!statusBar) {
      return;
    }
    const trans = (translator ?? nullTranslator).load('jupyter_lapd');
    const item = new RunsStatusItem({
      model: runs,
      trans,
      onClick: () => {
        app.commands.execute(OPEN_RUNS_PANEL_COMMAND).catch(reason => {
          console.error('jupyter_lapd: cannot show the runs panel', reason);
        });
      }
    });
    statusBar.registerStatusItem('jupyter-lapd:runs-status', {
      item,
      align: 'left',
      rank: 5,
      isActive: () => runs.activeRuns.length > 0,
      activeStateChanged: runs.stateChanged
    });
  }
};

/**
 * Notifications at the end of each run, including runs that ended while no page was
 * open (announced at the next page load, once per browser).
 */
const notifyPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-lapd:runs-notify',
  description:
    'Notifies when a background run ends: completed, failed, cancelled or interrupted.',
  autoStart: true,
  requires: [IRunsModel],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    runs: IRunsModel,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_lapd');
    // Notifications emitted before the notification plugin listens reach only the
    // notification center, not the screen: start once every plugin is active.
    void Promise.all([app.started, app.restored]).then(
      () =>
        new RunNotifier({
          runs,
          store: new LocalStorageLedger(
            app.serviceManager.serverSettings.baseUrl
          ),
          trans,
          onOpen: path => openNotebook(app, trans, path),
          onShowAll: () => {
            app.commands.execute(OPEN_RUNS_PANEL_COMMAND).catch(reason => {
              console.error('jupyter_lapd: cannot show the runs panel', reason);
            });
          }
        })
    );
  }
};

/**
 * The plugins about runs as a whole: the runs side panel, the status bar item and the
 * end-of-run notifications.
 */
export const runsPlugins: JupyterFrontEndPlugin<any>[] = [
  modelPlugin,
  panelPlugin,
  statusPlugin,
  notifyPlugin
];

/**
 * Add a widget to the shell's left area; false when the shell has no such area.
 */
function addToLeftArea(app: JupyterFrontEnd, widget: Widget): boolean {
  try {
    app.shell.add(widget, 'left', {
      rank: PANEL_RANK,
      type: 'Background Runs'
    });
  } catch (reason) {
    console.info('jupyter_lapd: no left area in this shell', reason);
    return false;
  }
  return widget.parent !== null;
}

function openNotebook(
  app: JupyterFrontEnd,
  trans: TranslationBundle,
  path: string
): void {
  app.commands.execute('docmanager:open', { path }).catch(reason => {
    console.error(`jupyter_lapd: cannot open ${path}`, reason);
    void showErrorMessage(trans.__('Cannot open %1', path), reason);
  });
}

async function cancelRun(
  runs: IRunsModel,
  trans: TranslationBundle,
  run: IRun
): Promise<void> {
  try {
    await runs.cancel(run.id);
  } catch (reason) {
    console.error(`jupyter_lapd: cannot cancel run ${run.id}`, reason);
    await showErrorMessage(trans.__('Cannot cancel the run'), reason as Error);
  }
}
