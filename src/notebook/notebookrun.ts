import { INotebookModel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { CellStatus, IRun, isRunActive } from '../api/rest';
import { IFlushState, IRunEvent, ISnapshotEvent } from '../api/runevents';
import {
  changesOutputsOf,
  compactEvents,
  replacedLater,
  withoutCells
} from './eventbatch';
import { guardDirty } from './dirtyguard';
import { RunCells } from './runcells';

/**
 * One run's events applied to one open notebook's model, as JupyterLab would have
 * applied the kernel's messages had it run the cells itself.
 *
 * Events are applied at most once and in order, by seq: `since()` tells the events
 * socket where to resume, duplicates are dropped, and a gap (which the server's
 * protocol never produces) asks for a full snapshot again (`resyncRequested`).
 *
 * It also keeps the notebook's dirty flag meaningful: "unsaved changes" are changes
 * only this page holds. The run's outputs are not: the server writes them into the
 * file within a second (`flushed` events), whether or not this page stays open. So
 * applying events leaves a clean model clean; once anything else (the user) changes
 * the model, it stays dirty until saved or reverted.
 *
 * In a collaborative notebook (`shared`), the server puts the run's outputs, execution
 * counts and running state into the shared document itself, and the collaboration room
 * saves them: every connected page receives them through the document. Applying the
 * events here as well would show every output twice, so a shared view only follows the
 * run's state (its status, which cells are queued, running or done) and leaves the
 * model, and its dirty flag, alone.
 *
 * This class touches models only, never the DOM or the network.
 */
export class NotebookRunModel implements IDisposable {
  constructor(options: NotebookRunModel.IOptions) {
    this._model = options.model;
    this._run = options.run;
    this._shared = options.shared ?? false;
    this._cells = new RunCells(this._model);
    // Unsaved changes made before the run was attached are the user's.
    this._foreign = this._model.dirty;
    if (!this._shared) {
      this._model.contentChanged.connect(this._onContentChanged, this);
      this._model.stateChanged.connect(this._onStateChanged, this);
      this._dirtyGuard = guardDirty(
        this._model.sharedModel,
        () => this._applying > 0
      );
    }
  }

  /**
   * Whether the model is a shared document that the server updates itself: the events
   * then change the run's state only, never the model.
   */
  get shared(): boolean {
    return this._shared;
  }

  /**
   * The run, as of the last event applied (`cells` as of the last snapshot).
   */
  get run(): IRun {
    return this._run;
  }

  /**
   * Whether the run is still queued or running, as far as the events tell.
   */
  get isActive(): boolean {
    return !this._ended;
  }

  /**
   * The seq of the last event applied; null until a snapshot has been applied.
   */
  get lastSeq(): number | null {
    return this._lastSeq;
  }

  /**
   * Ids of the run's cells that have not started yet, while the run is active.
   */
  get queuedCellIds(): string[] {
    if (this._ended) {
      return [];
    }
    const queued: string[] = [];
    this._cellStatus.forEach((status, id) => {
      if (status === 'queued') {
        queued.push(id);
      }
    });
    return queued;
  }

  /**
   * The status of one of the run's cells, as far as the events tell.
   */
  cellStatus(cellId: string): CellStatus | undefined {
    return this._cellStatus.get(cellId);
  }

  /**
   * Emitted when the run's status or the status of one of its cells changes.
   */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /**
   * Emitted when the server has written the run's outputs: the document's view of the
   * file (its hash and modification time) should follow. When the server put them into
   * a collaborative shared document instead (`destination` is `shared_document`), the
   * room saves the file and `hash` is null: there is nothing for the document to take.
   */
  get flushed(): ISignal<this, IFlushState> {
    return this._flushed;
  }

  /**
   * Emitted when the events cannot be applied in order: the socket must reconnect
   * without `since`, for a full snapshot.
   */
  get resyncRequested(): ISignal<this, void> {
    return this._resyncRequested;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Where the events socket should resume: null for a full snapshot.
   */
  since(): number | null {
    return this._needsSnapshot ? null : this._lastSeq;
  }

  /**
   * Apply one event of the run's socket.
   *
   * @returns whether the event was applied (false: a duplicate, or out of order).
   */
  apply(event: IRunEvent): boolean {
    return this.applyAll([event])[0];
  }

  /**
   * Apply the events of the run's socket that arrived within one animation frame, in
   * order, as one change: the outputs a later event of the batch clears are never added,
   * and a cell's stream fragments are added at once (`compactEvents`).
   *
   * @returns for each event, whether it was applied (false: a duplicate, out of order,
   * or after a gap that asks for a snapshot).
   */
  applyAll(events: IRunEvent[]): boolean[] {
    const applied: boolean[] = [];
    // outputs a later snapshot of the batch replaces are not rendered first
    const replaced = replacedLater(events);
    let pending: Exclude<IRunEvent, ISnapshotEvent>[] = [];
    const applyPending = () => {
      for (const event of compactEvents(pending) as typeof pending) {
        if (this._isDisposed) {
          break; // the run ended, and its page let go of it
        }
        this._applyOne(event);
      }
      pending = [];
    };
    events.forEach((event, index) => {
      const later = replaced[index];
      if (this._isDisposed) {
        applied.push(false);
      } else if (event.type === 'snapshot') {
        applyPending();
        applied.push(
          this._applySnapshot(later ? withoutCells(event, later) : event)
        );
      } else if (
        this._lastSeq === null ||
        this._needsSnapshot ||
        event.seq <= this._lastSeq
      ) {
        applied.push(false);
      } else if (event.seq !== this._lastSeq + 1) {
        console.warn(
          `jupyter_lapd: run ${this._run.id} jumped from seq ${this._lastSeq} to ${event.seq}; asking for a snapshot`
        );
        applyPending();
        this._requestSnapshot();
        applied.push(false);
      } else {
        this._lastSeq = event.seq;
        if (!(later && changesOutputsOf(event, later))) {
          pending.push(event);
        }
        applied.push(true);
      }
    });
    applyPending();
    return applied;
  }

  private _applyOne(event: Exclude<IRunEvent, ISnapshotEvent>): void {
    switch (event.type) {
      case 'run':
        this._run = { ...event.run, cells: this._run.cells };
        if (!isRunActive(event.run.status)) {
          this._end();
        }
        this._stateChanged.emit();
        break;
      case 'cell_start':
        this._change(() => this._cells.start(event.cell_id));
        this._setStatus(event.cell_id, 'running');
        break;
      case 'output':
        this._change(() => this._cells.addOutput(event));
        break;
      case 'clear_output':
        this._change(() => this._cells.clearOutput(event.cell_id, event.wait));
        break;
      case 'update_display':
        this._change(() => this._cells.updateDisplay(event));
        break;
      case 'cell_end':
        if (event.status !== 'skipped') {
          // a skipped cell (tagged skip-execution) was not run: it keeps its count
          this._change(() => this._cells.end(event));
        }
        this._setStatus(event.cell_id, event.status);
        break;
      case 'flushed':
        this._onFlushed(event);
        break;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    if (!this._shared) {
      this._model.contentChanged.disconnect(this._onContentChanged, this);
      this._model.stateChanged.disconnect(this._onStateChanged, this);
    }
    this._dirtyGuard?.dispose();
    this._cells.dispose();
    Signal.clearData(this);
  }

  private _applySnapshot(snapshot: ISnapshotEvent): boolean {
    if (snapshot.replay_from !== undefined) {
      // A resumed stream: the events after replay_from follow, and the snapshot's run
      // is already ahead of them, so only check that it resumes where we are.
      if (this._needsSnapshot || snapshot.replay_from !== this._lastSeq) {
        this._requestSnapshot();
        return false;
      }
      return true;
    }
    this._needsSnapshot = false;
    this._lastSeq = snapshot.seq;
    this._run = snapshot.run;
    this._cellStatus.clear();
    for (const cell of snapshot.run.cells ?? []) {
      this._cellStatus.set(cell.id, cell.status);
    }
    this._change(() => this._cells.restore(snapshot));
    if (!isRunActive(snapshot.run.status)) {
      this._end();
    }
    this._stateChanged.emit();
    if (snapshot.flushed) {
      this._onFlushed(snapshot.flushed);
    }
    return true;
  }

  private _onFlushed(flush: IFlushState): void {
    this._flushed.emit(flush);
  }

  /**
   * The run has ended: nothing is queued or running anymore.
   */
  private _end(): void {
    if (this._ended) {
      return;
    }
    this._ended = true;
    this._change(() => this._cells.stopRunning());
    this._cellStatus.forEach((status, id) => {
      if (status === 'queued' || status === 'running') {
        this._cellStatus.set(id, 'skipped');
      }
    });
  }

  private _setStatus(cellId: string, status: CellStatus): void {
    if (this._cellStatus.get(cellId) !== status) {
      this._cellStatus.set(cellId, status);
      this._stateChanged.emit();
    }
  }

  /**
   * Run `change` as the run's own change to the model; in a shared document, where the
   * server makes the change itself, do nothing.
   */
  private _change(change: () => void): void {
    if (this._shared) {
      return;
    }
    this._applying += 1;
    try {
      change();
    } finally {
      this._applying -= 1;
    }
    // The run's outputs are the server's to save: they reach the file within a
    // second whether or not this page stays. Only other changes are unsaved work. The
    // guard keeps the change from marking the model dirty at all; a change that
    // reached the flag some other way is undone here.
    if (!this._foreign && this._model.dirty) {
      this._model.dirty = false;
    }
  }

  private _requestSnapshot(): void {
    this._needsSnapshot = true;
    this._resyncRequested.emit();
  }

  private _onContentChanged(): void {
    if (this._applying === 0) {
      this._foreign = true;
    }
  }

  private _onStateChanged(
    _: INotebookModel,
    change: { name: string; newValue: unknown }
  ): void {
    if (change.name === 'dirty' && change.newValue === false) {
      // Saved, reverted, or marked clean by us: the model matches the file again.
      this._foreign = false;
    }
  }

  private _model: INotebookModel;
  private _cells: RunCells;
  private _shared: boolean;
  private _run: IRun;
  private _lastSeq: number | null = null;
  private _needsSnapshot = true;
  private _ended = false;
  private _cellStatus = new Map<string, CellStatus>();
  private _applying = 0;
  private _dirtyGuard: IDisposable | null = null;
  private _foreign: boolean;
  private _isDisposed = false;
  private _stateChanged = new Signal<this, void>(this);
  private _flushed = new Signal<this, IFlushState>(this);
  private _resyncRequested = new Signal<this, void>(this);
}

/**
 * The namespace for `NotebookRunModel` statics.
 */
export namespace NotebookRunModel {
  export interface IOptions {
    /** The open notebook's model. */
    model: INotebookModel;
    /** The run, as the server listed it; the first snapshot brings its cells. */
    run: IRun;
    /**
     * Whether the model is a collaborative shared document (`model.collaborative`),
     * which the server updates with the run's outputs itself: then only the run's
     * state is followed, and the model is never changed. Default: false.
     */
    shared?: boolean;
  }
}
