import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { VDomModel } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { cancelRun, IRun, listRuns } from '../api/rest';
import { IRunsModel } from '../tokens';
import { isActive } from './format';

/**
 * Polling interval while a run is active or the runs panel is visible, in ms.
 */
export const ACTIVE_INTERVAL = 2000;

/**
 * Polling interval otherwise, in ms: how soon a run started elsewhere (another tab,
 * the CLI) shows up.
 */
export const IDLE_INTERVAL = 10000;

/**
 * The longest wait between attempts while the server does not answer, in ms.
 */
export const MAX_INTERVAL = 60000;

/**
 * Whether a failed request says the server serves no run (`503`).
 */
function unavailable(reason: unknown): boolean {
  return (
    reason instanceof ServerConnection.ResponseError &&
    reason.response.status === 503
  );
}

/**
 * The runs of this server, listed through `api/rest.ts` by a poll that stands by while
 * the page is hidden (`document.visibilityState`).
 */
export class RunsModel extends VDomModel implements IRunsModel {
  constructor(options: RunsModel.IOptions) {
    super();
    this._serverSettings = options.serverSettings;
    this._activeInterval = options.activeInterval ?? ACTIVE_INTERVAL;
    this._idleInterval = options.idleInterval ?? IDLE_INTERVAL;
    this._poll = new Poll({
      factory: () => this._list(),
      frequency: this._frequency(),
      name: 'jupyter-lapd:runs',
      standby: 'when-hidden'
    });
    document.addEventListener('visibilitychange', this._onVisibilityChange);
  }

  get runs(): readonly IRun[] {
    return this._runs;
  }

  get activeRuns(): readonly IRun[] {
    return this._runs.filter(isActive);
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get error(): string | null {
    return this._error;
  }

  get listed(): ISignal<IRunsModel, readonly IRun[]> {
    return this._listed;
  }

  /**
   * Whether the runs panel is on screen; a visible panel is refreshed often.
   */
  get panelVisible(): boolean {
    return this._panelVisible;
  }

  set panelVisible(visible: boolean) {
    if (visible === this._panelVisible) {
      return;
    }
    this._panelVisible = visible;
    this._poll.frequency = this._frequency();
    if (visible) {
      void this.refresh();
    }
  }

  refresh(): Promise<void> {
    return this._list().catch(() => {
      // _list already recorded the error for the views.
    });
  }

  async cancel(runId: string): Promise<IRun> {
    const run = await cancelRun(this._serverSettings, runId);
    void this.refresh();
    return run;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    document.removeEventListener('visibilitychange', this._onVisibilityChange);
    this._poll.dispose();
    Signal.clearData(this);
    super.dispose();
  }

  /**
   * List the runs and apply the answer, unless a later listing was applied already.
   */
  private async _list(): Promise<void> {
    const request = ++this._requested;
    try {
      const runs = await listRuns(this._serverSettings);
      if (this.isDisposed || request < this._applied) {
        return;
      }
      this._applied = request;
      this._runs = runs;
      this._loaded = true;
      this._error = null;
      this._poll.frequency = this._frequency();
      this._listed.emit(runs);
      this.stateChanged.emit();
    } catch (reason) {
      if (this.isDisposed || request < this._applied) {
        return;
      }
      const message = reason instanceof Error ? reason.message : String(reason);
      if (message !== this._error) {
        console.error('jupyter_lapd: cannot list runs', reason);
        this._error = message;
        this.stateChanged.emit();
        if (unavailable(reason)) {
          // The server serves no run at all (its runs database cannot be opened, another
          // server manages this folder's runs): say why, once, where anyone sees it.
          Notification.error(message, { autoClose: false });
        }
      }
      throw reason;
    }
  }

  private _frequency(): { interval: number; backoff: boolean; max: number } {
    const busy = this._panelVisible || this._runs.some(isActive);
    return {
      interval: busy ? this._activeInterval : this._idleInterval,
      backoff: true,
      max: Math.max(MAX_INTERVAL, this._idleInterval)
    };
  }

  private _onVisibilityChange = (): void => {
    if (document.visibilityState === 'visible') {
      void this.refresh();
    }
  };

  private _serverSettings: ServerConnection.ISettings;
  private _activeInterval: number;
  private _idleInterval: number;
  private _poll: Poll;
  private _runs: IRun[] = [];
  private _loaded = false;
  private _error: string | null = null;
  private _panelVisible = false;
  private _requested = 0;
  private _applied = 0;
  private _listed = new Signal<IRunsModel, readonly IRun[]>(this);
}

/**
 * A namespace for RunsModel statics.
 */
export namespace RunsModel {
  /**
   * Options to create a runs model.
   */
  export interface IOptions {
    /** Use `app.serviceManager.serverSettings`. */
    serverSettings: ServerConnection.ISettings;
    /** Polling interval while runs are active or the panel is visible, in ms. */
    activeInterval?: number;
    /** Polling interval otherwise, in ms. */
    idleInterval?: number;
  }
}
