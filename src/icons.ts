/**
 * Every icon of this extension, for the notebook commands (notebook/) and the runs
 * panel and status item (runs/).
 */

import { LabIcon } from '@jupyterlab/ui-components';

/**
 * A play triangle with a clock: run, and let it go on in the background.
 */
const RUN_IN_BACKGROUND_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" d="M3 2v13l10-6.5z"/>
  <path class="jp-icon3" fill="#616161" fill-rule="evenodd" d="M11 17a6 6 0 1 0 12 0a6 6 0 1 0-12 0zM12.6 17a4.4 4.4 0 1 0 8.8 0a4.4 4.4 0 1 0-8.8 0zM16.3 14h1.4v2.7l2 1.2-.7 1.2-2.7-1.6z"/>
</svg>`;

/**
 * The icon of the "Run in background" commands.
 */
export const runInBackgroundIcon = new LabIcon({
  name: 'jupyter-lapd:run-in-background',
  svgstr: RUN_IN_BACKGROUND_SVG
});

/**
 * A play triangle inside a circular arrow: a run that goes on by itself.
 */
const RUNS_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 4a8 8 0 0 1 7.75 6h-2.1A6 6 0 1 0 18 14h2.07A8 8 0 1 1 12 4z"/>
    <path d="M17 7.5 22 10l-5 2.5z"/>
    <path d="M10 8.5v7l5.5-3.5z"/>
  </g>
</svg>`;

/**
 * The icon of the runs side panel and the status bar item.
 */
export const runsIcon = new LabIcon({
  name: 'jupyter-lapd:runs',
  svgstr: RUNS_SVG
});
