import { TranslationBundle } from '@jupyterlab/translation';
import {
  Button,
  refreshIcon,
  ToolbarButtonComponent,
  VDomRenderer
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { IRun, RunStatus } from '../api/rest';
import { runsIcon } from '../icons';
import { IRunsModel, RUNS_PANEL_ID } from '../tokens';
import {
  baseName,
  dirName,
  elapsedMs,
  formatElapsed,
  formatProgress,
  isActive,
  progressFraction,
  resumeLabel
} from './format';

/**
 * How many ended runs the panel lists under "Recent".
 */
export const MAX_RECENT_RUNS = 50;

/**
 * How often the elapsed times of running runs tick, in ms.
 */
const TICK_INTERVAL = 1000;

/**
 * The runs side panel: active runs with their progress and a Cancel button, then the
 * recent ones. It renders the model; opening and cancelling go through the callbacks.
 */
export class RunsPanel extends VDomRenderer<IRunsModel> {
  constructor(options: RunsPanel.IOptions) {
    super(options.model);
    this._trans = options.trans;
    this._onOpen = options.onOpen;
    this._onCancel = options.onCancel;
    this.id = RUNS_PANEL_ID;
    this.addClass('jp-lapd-RunsPanel');
    this.title.icon = runsIcon;
    this.title.caption = this._trans.__('Background runs');
  }

  dispose(): void {
    this._stopTicking();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._setVisible(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._setVisible(false);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._setVisible(this.isVisible);
  }

  protected onBeforeDetach(msg: Message): void {
    this._setVisible(false);
    super.onBeforeDetach(msg);
  }

  protected render(): React.ReactElement {
    const trans = this._trans;
    const model = this.model;
    const now = Date.now();
    const active = model.runs.filter(isActive);
    const recent = model.runs
      .filter(run => !isActive(run))
      .slice(0, MAX_RECENT_RUNS);

    let body: React.ReactNode;
    if (!model.loaded && model.error === null) {
      body = (
        <p className="jp-lapd-RunsPanel-message">{trans.__('Loading…')}</p>
      );
    } else if (model.runs.length === 0 && model.loaded) {
      body = (
        <p className="jp-lapd-RunsPanel-message jp-lapd-RunsPanel-empty">
          {trans.__(
            'No background runs yet. Start one with Run in background in a notebook, or with `jupyter lapd run` in a terminal.'
          )}
        </p>
      );
    } else {
      body = (
        <>
          {this._renderSection(trans.__('Active'), 'active', active, now)}
          {this._renderSection(trans.__('Recent'), 'recent', recent, now)}
        </>
      );
    }

    return (
      <>
        <div className="jp-lapd-RunsPanel-header">
          <h2 className="jp-lapd-RunsPanel-title">
            {trans.__('Background runs')}
          </h2>
          <ToolbarButtonComponent
            icon={refreshIcon}
            tooltip={trans.__('Refresh the list of runs')}
            onClick={() => void model.refresh()}
          />
        </div>
        {model.error !== null && (
          <p className="jp-lapd-RunsPanel-message jp-lapd-RunsPanel-error">
            {trans.__('Cannot list runs: %1', model.error)}
          </p>
        )}
        <div className="jp-lapd-RunsPanel-body">{body}</div>
      </>
    );
  }

  private _renderSection(
    title: string,
    name: string,
    runs: readonly IRun[],
    now: number
  ): React.ReactNode {
    if (runs.length === 0) {
      return null;
    }
    return (
      <section
        className={`jp-lapd-RunsPanel-section jp-lapd-RunsPanel-${name}`}
      >
        <h3 className="jp-lapd-RunsPanel-sectionTitle">
          {title} <span className="jp-lapd-RunsPanel-count">{runs.length}</span>
        </h3>
        <ul className="jp-lapd-RunsPanel-list">
          {runs.map(run => this._renderRun(run, now))}
        </ul>
      </section>
    );
  }

  private _renderRun(run: IRun, now: number): React.ReactElement {
    const trans = this._trans;
    const elapsed = elapsedMs(run, now);
    const fraction = progressFraction(run);
    const folder = dirName(run.path);
    const cancelling = this._cancelling.has(run.id);
    const open = (): void => this._onOpen(run.path);
    const finished = run.finished ? new Date(run.finished) : null;
    return (
      // A click anywhere on the run opens the notebook; the name is a button so that
      // the keyboard reaches it too (its click bubbles here). Cancel stops the bubbling.
      <li
        key={run.id}
        className={`jp-lapd-RunsPanel-run jp-lapd-mod-${run.status}`}
        data-run-id={run.id}
        data-status={run.status}
        onClick={open}
      >
        <div className="jp-lapd-RunsPanel-runHeader">
          <button
            type="button"
            className="jp-lapd-RunsPanel-name"
            title={trans.__('Open %1', run.path)}
          >
            {baseName(run.path)}
          </button>
          <span className="jp-lapd-RunsPanel-status">
            {statusLabel(trans, run.status)}
          </span>
        </div>
        {folder && <div className="jp-lapd-RunsPanel-folder">{folder}</div>}
        <div className="jp-lapd-RunsPanel-progressRow">
          <div
            className="jp-lapd-RunsPanel-bar"
            role="progressbar"
            aria-label={trans.__('Cells done')}
            aria-valuemin={0}
            aria-valuemax={run.cells_total}
            aria-valuenow={run.cells_done}
          >
            <div
              className="jp-lapd-RunsPanel-barFill"
              style={{ width: `${Math.round(fraction * 100)}%` }}
            />
          </div>
          <span
            className="jp-lapd-RunsPanel-progress"
            title={trans.__('Cells done / cells to run')}
          >
            {trans._n(
              '%2 cell',
              '%2 cells',
              run.cells_total,
              formatProgress(run)
            )}
          </span>
          <span
            className="jp-lapd-RunsPanel-elapsed"
            title={
              finished
                ? trans.__('Ended %1', finished.toLocaleString())
                : trans.__('Running time')
            }
          >
            {elapsed === null ? '' : formatElapsed(elapsed)}
          </span>
        </div>
        {run.resumed_from && (
          <div
            className="jp-lapd-RunsPanel-resumed"
            title={trans.__('Resumes run %1', run.resumed_from)}
          >
            {resumeLabel(trans, run)}
          </div>
        )}
        {run.error && (
          <div className="jp-lapd-RunsPanel-runError" title={run.error}>
            {run.error}
          </div>
        )}
        {isActive(run) && (
          <div className="jp-lapd-RunsPanel-actions">
            <Button
              className="jp-lapd-RunsPanel-cancel"
              minimal
              small
              disabled={cancelling}
              title={trans.__(
                'Cancel this run: interrupt the running cell and skip the rest'
              )}
              onClick={event => {
                event.stopPropagation();
                void this._cancel(run);
              }}
            >
              {cancelling ? trans.__('Cancelling…') : trans.__('Cancel')}
            </Button>
          </div>
        )}
      </li>
    );
  }

  private async _cancel(run: IRun): Promise<void> {
    this._cancelling.add(run.id);
    this.update();
    try {
      await this._onCancel(run);
    } finally {
      this._cancelling.delete(run.id);
      this.update();
    }
  }

  private _setVisible(visible: boolean): void {
    if (this.isDisposed) {
      return;
    }
    this.model.panelVisible = visible;
    if (visible) {
      this._startTicking();
    } else {
      this._stopTicking();
    }
  }

  private _startTicking(): void {
    if (this._ticker !== null) {
      return;
    }
    this._ticker = window.setInterval(() => {
      if (this.model.runs.some(run => run.status === 'running')) {
        this.update();
      }
    }, TICK_INTERVAL);
  }

  private _stopTicking(): void {
    if (this._ticker !== null) {
      window.clearInterval(this._ticker);
      this._ticker = null;
    }
  }

  private _trans: TranslationBundle;
  private _onOpen: (path: string) => void;
  private _onCancel: (run: IRun) => Promise<void>;
  private _cancelling = new Set<string>();
  private _ticker: number | null = null;
}

/**
 * A namespace for RunsPanel statics.
 */
export namespace RunsPanel {
  /**
   * Options to create the runs panel.
   */
  export interface IOptions {
    model: IRunsModel;
    trans: TranslationBundle;
    /** Open a notebook, given its path. */
    onOpen: (path: string) => void;
    /** Cancel a run; errors are the callback's to report. */
    onCancel: (run: IRun) => Promise<void>;
  }
}

/**
 * The translated name of a run status.
 */
export function statusLabel(
  trans: TranslationBundle,
  status: RunStatus
): string {
  switch (status) {
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running');
    case 'completed':
      return trans.__('completed');
    case 'failed':
      return trans.__('failed');
    case 'cancelled':
      return trans.__('cancelled');
    case 'interrupted':
      return trans.__('interrupted');
  }
}
