import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';

import { IRun } from '../api/rest';
import { IRunsModel } from '../tokens';
import { ILedgerStore, planAnnouncements } from './announce';
import { baseName } from './format';

/**
 * How many ended runs are announced one by one after a listing; more are summed up in
 * one notification (a page opened after a night of runs must not flood).
 */
export const MAX_ANNOUNCEMENTS = 3;

/**
 * How long a "completed" notification stays on screen, in ms; the others stay until
 * dismissed. Either way they remain in the notification center.
 */
export const SUCCESS_AUTO_CLOSE = 15000;

/**
 * Announces the end of runs (completed, failed, cancelled, interrupted) with a
 * JupyterLab notification, each end once per browser, including ends that happened
 * while no page was open.
 */
export class RunNotifier implements IDisposable {
  constructor(options: RunNotifier.IOptions) {
    this._runs = options.runs;
    this._store = options.store;
    this._trans = options.trans;
    this._onOpen = options.onOpen;
    this._onShowAll = options.onShowAll;
    this._runs.listed.connect(this._onListed, this);
    if (this._runs.loaded) {
      this._onListed(this._runs, this._runs.runs);
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._runs.listed.disconnect(this._onListed, this);
  }

  private _onListed(sender: IRunsModel, runs: readonly IRun[]): void {
    // Read, plan and save in one task: another tab of this browser sees the result.
    const plan = planAnnouncements(this._store.load(), runs, MAX_ANNOUNCEMENTS);
    this._store.save(plan.ledger);
    // Oldest first, so that the newest ends on top of the notification stack.
    for (const run of [...plan.announce].reverse()) {
      this._announce(run);
    }
    if (plan.more.length > 0) {
      this._announceMore(plan.more);
    }
  }

  private _announce(run: IRun): void {
    const trans = this._trans;
    const name = baseName(run.path);
    const actions: Notification.IAction[] = [
      {
        label: trans.__('Open'),
        caption: trans.__('Open %1', run.path),
        callback: () => this._onOpen(run.path)
      }
    ];
    switch (run.status) {
      case 'completed':
        Notification.success(
          trans.__('Background run of %1 completed.', name),
          { actions, autoClose: SUCCESS_AUTO_CLOSE }
        );
        break;
      case 'failed':
        Notification.error(
          run.error
            ? trans.__('Background run of %1 failed: %2', name, run.error)
            : trans.__('Background run of %1 failed.', name),
          { actions, autoClose: false }
        );
        break;
      case 'interrupted':
        Notification.warning(
          trans.__(
            'Background run of %1 was interrupted (the server or the kernel stopped).',
            name
          ),
          { actions, autoClose: false }
        );
        break;
      default:
        Notification.info(
          trans.__('Background run of %1 was cancelled.', name),
          { actions, autoClose: false }
        );
        break;
    }
  }

  private _announceMore(runs: IRun[]): void {
    const trans = this._trans;
    Notification.info(
      trans._n(
        '%1 more background run ended.',
        '%1 more background runs ended.',
        runs.length
      ),
      {
        actions: [
          {
            label: trans.__('Show runs'),
            callback: () => this._onShowAll()
          }
        ],
        autoClose: false
      }
    );
  }

  private _runs: IRunsModel;
  private _store: ILedgerStore;
  private _trans: TranslationBundle;
  private _onOpen: (path: string) => void;
  private _onShowAll: () => void;
  private _isDisposed = false;
}

/**
 * A namespace for RunNotifier statics.
 */
export namespace RunNotifier {
  /**
   * Options to create the notifier.
   */
  export interface IOptions {
    runs: IRunsModel;
    store: ILedgerStore;
    trans: TranslationBundle;
    /** Open a notebook, given its path. */
    onOpen: (path: string) => void;
    /** Show every run (the runs panel). */
    onShowAll: () => void;
  }
}
