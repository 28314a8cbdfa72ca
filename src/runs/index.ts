import { JupyterFrontEndPlugin } from '@jupyterlab/application';

/**
 * The plugins about runs as a whole: the runs side panel, the status bar item and the
 * end-of-run notifications.
 */
export const runsPlugins: JupyterFrontEndPlugin<void>[] = [];
