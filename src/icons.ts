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
