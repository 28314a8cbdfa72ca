import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

/* eslint-disable jupyter/prefer-lazy-imports -- activation needs these at once: the
   commands back the toolbar button and menus from the start, notebooks restored with
   the layout must attach to their runs as soon as they open, and a renderer factory
   creates its renderers synchronously. */
import { listRuns } from './api/rest';
import { chunkedTextFactory } from './notebook/chunkedtext';
import { addCommands } from './notebook/commands';
import { NotebookRuns } from './notebook/reattach';
/* eslint-enable jupyter/prefer-lazy-imports */
import { runsPlugins } from './runs';
import { INotebookRuns, IRunsModel } from './tokens';

/**
 * The notebook commands (run in background, cancel), whose toolbar button, menus and
 * shortcut schema/plugin.json declares; checks on activation that the server
 * extension answers.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-lapd:plugin',
  description:
    'Backend-persistent notebook execution for JupyterLab: run in background, close the tab, keep every output',
  autoStart: true,
  requires: [INotebookTracker, INotebookRuns],
  optional: [ITranslator, ICommandPalette, IRunsModel],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    runs: INotebookRuns,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    runsModel: IRunsModel | null
  ) => {
    const serverSettings = app.serviceManager.serverSettings;
    addCommands(app, {
      tracker,
      runs,
      serverSettings,
      trans: (translator ?? nullTranslator).load('jupyter_lapd'),
      palette,
      onRunsChanged: () => void runsModel?.refresh()
    });
    listRuns(serverSettings)
      .then(() => {
        console.log('jupyter_lapd: server extension reachable');
      })
      .catch(reason => {
        console.error(
          'jupyter_lapd: the server extension is not reachable; is it installed and enabled? ' +
            'Check `jupyter server extension list`.',
          reason
        );
      });
  }
};

/**
 * Attaches each open notebook to its active run: outputs stream in, queued cells are
 * marked, and saving during the run raises no "File Changed" dialog.
 */
const reattachPlugin: JupyterFrontEndPlugin<INotebookRuns> = {
  id: 'jupyter-lapd:reattach',
  description:
    'Streams the outputs of background runs into their open notebooks, also after closing and reopening them.',
  autoStart: true,
  provides: INotebookRuns,
  requires: [INotebookTracker],
  optional: [ITranslator, IRunsModel, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    translator: ITranslator | null,
    runsModel: IRunsModel | null,
    rendermime: IRenderMimeRegistry | null
  ): INotebookRuns => {
    // Streams of a notebook following a run render in chunks (notebooks opened from
    // now on take their renderers from this registry).
    rendermime?.addFactory(chunkedTextFactory, chunkedTextFactory.defaultRank);
    const runs = new NotebookRuns({
      tracker,
      serverSettings: app.serviceManager.serverSettings,
      contents: app.serviceManager.contents,
      trans: (translator ?? nullTranslator).load('jupyter_lapd')
    });
    // Runs started elsewhere (another page, the CLI) while a notebook is open.
    runsModel?.listed.connect((_, listed) => runs.onListed(listed));
    return runs;
  }
};

export default [plugin, reattachPlugin, ...runsPlugins];
