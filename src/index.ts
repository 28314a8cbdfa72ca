import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { listRuns } from './api';
import { runsPlugins } from './runs';

/**
 * Checks on activation that the jupyter_lapd server extension answers.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-lapd:plugin',
  description:
    'Backend-persistent notebook execution for JupyterLab: run in background, close the tab, keep every output',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    listRuns(app.serviceManager.serverSettings)
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

export default [plugin, ...runsPlugins];
