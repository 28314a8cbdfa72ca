import { TranslationBundle } from '@jupyterlab/translation';
import { VDomRenderer } from '@jupyterlab/ui-components';
import * as React from 'react';

import { runsIcon } from '../icons';
import { IRunsModel } from '../tokens';

/**
 * The status bar item counting active runs ("2 runs"); clicking it opens the panel.
 *
 * The status bar hides it while no run is active (see `isActive` where it is
 * registered).
 */
export class RunsStatusItem extends VDomRenderer<IRunsModel> {
  constructor(options: RunsStatusItem.IOptions) {
    super(options.model);
    this._trans = options.trans;
    this._onClick = options.onClick;
    this.addClass('jp-lapd-RunsStatus');
    this.addClass('jp-mod-highlighted');
    this.node.addEventListener('click', this._onClick);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.node.removeEventListener('click', this._onClick);
    super.dispose();
  }

  protected render(): React.ReactElement {
    const count = this.model.activeRuns.length;
    this.node.title = this._trans._n(
      '%1 notebook running in the background; click to show the runs',
      '%1 notebooks running in the background; click to show the runs',
      count
    );
    return (
      <>
        <runsIcon.react
          tag="span"
          className="jp-lapd-RunsStatus-icon"
          stylesheet="statusBar"
        />
        <span className="jp-lapd-RunsStatus-text">
          {this._trans._n('%1 run', '%1 runs', count)}
        </span>
      </>
    );
  }

  private _trans: TranslationBundle;
  private _onClick: () => void;
}

/**
 * A namespace for RunsStatusItem statics.
 */
export namespace RunsStatusItem {
  /**
   * Options to create the status bar item.
   */
  export interface IOptions {
    model: IRunsModel;
    trans: TranslationBundle;
    onClick: () => void;
  }
}
