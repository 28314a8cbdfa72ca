import { DocumentRegistry } from '@jupyterlab/docregistry';
import {
  INotebookModel,
  INotebookTracker,
  NotebookPanel
} from '@jupyterlab/notebook';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { getRun, IRun, isRunActive, listRuns } from '../api/rest';
import { IRunEvent } from '../api/runevents';
import { RunEventSocket } from '../api/socket';
import { INotebookRuns } from '../tokens';
import { markViews } from './cellmarks';
import { FrameBatch } from './eventbatch';
import { isCollaborative } from './filestate';
import { NotebookRunModel } from './notebookrun';
import { SaveCheck } from './savecheck';

/**
 * Attaches each open notebook to its active run, if it has one: on opening, when the
 * page starts a run, or when the runs listing shows one started elsewhere. The run's
 * outputs then stream into the notebook, queued cells are marked, and the document's
 * saves accept the server's writes.
 */
export class NotebookRuns implements INotebookRuns, IDisposable {
  constructor(options: NotebookRuns.IOptions) {
    this._tracker = options.tracker;
    this._serverSettings = options.serverSettings;
    this._contents = options.contents;
    this._trans = options.trans;
    this._saveCheck = new SaveCheck(
      options.contents,
      context => this.activeRun(context) !== null
    );
    this._tracker.widgetAdded.connect(this._onWidgetAdded, this);
    this._tracker.forEach(panel => this._onWidgetAdded(this._tracker, panel));
  }

  get changed(): ISignal<this, DocumentRegistry.Context> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  activeRun(context: DocumentRegistry.Context): IRun | null {
    const attachment = this._attachments.get(context);
    return attachment?.view.isActive ? attachment.view.run : null;
  }

  follow(context: DocumentRegistry.Context, run: IRun): void {
    if (
      this._isDisposed ||
      context.isDisposed ||
      !isRunActive(run.status) ||
      this._ended.has(run.id)
    ) {
      // A listing taken before the run ended must not bring its outputs back.
      return;
    }
    const current = this._attachments.get(context);
    if (current !== undefined) {
      if (current.view.run.id === run.id) {
        return;
      }
      this._detach(context);
    }
    const model = context.model as INotebookModel;
    // In a collaborative notebook the server puts the run's outputs into the shared
    // document, which every page receives and the room saves: this page follows the
    // run's state only (queued cells, status, cancel), and never the file's hash.
    const shared = isCollaborative(context);
    const view = new NotebookRunModel({ model, run, shared });
    // Applied once per animation frame, however fast they come (FrameBatch).
    const batch = new FrameBatch<IRunEvent>(events => {
      const applied = view.applyAll(events);
      events.forEach((event, index) => {
        if (
          applied[index] &&
          !shared &&
          event.type === 'snapshot' &&
          event.replay_from === undefined &&
          !event.flushed
        ) {
          void this._syncFile(context, view);
        }
      });
    });
    const socket = new RunEventSocket({
      serverSettings: this._serverSettings,
      runId: run.id,
      since: () => view.since(),
      // a snapshot of what it missed is applied like any other (NotebookRunModel)
      catchUp: true,
      onEvent: event => {
        if (event.type === 'snapshot' && event.replay_from !== undefined) {
          console.info(
            `jupyter_lapd: run ${run.id} resumed after seq ${event.replay_from}`
          );
        }
        batch.push(event);
      },
      onClose: () => {
        // what arrived before the connection closed is applied before it resumes
        batch.flush();
        this._onSocketClosed(context, view);
      }
    });
    this._saveCheck.watch(context);
    view.flushed.connect((_, flush) => {
      this._flushes.set(view, (this._flushes.get(view) ?? 0) + 1);
      // Without a hash the server did not write the file (the room saves it).
      if (!shared && flush.hash) {
        // Taken by the context when a save's check finds it on disk (SaveCheck).
        this._saveCheck.noteWrite(context, flush.hash);
      }
    });
    view.resyncRequested.connect(() => socket.reconnect());
    view.stateChanged.connect(() => this._onRunChanged(context));
    const onCellsChanged = () => this._mark(context);
    model.cells.changed.connect(onCellsChanged);
    this._attachments.set(context, {
      view,
      socket,
      dispose: () => {
        batch.dispose();
        if (!model.isDisposed) {
          // (a closed notebook's model, disposed first, has no cells left)
          model.cells.changed.disconnect(onCellsChanged);
        }
      }
    });
    this._mark(context);
    console.info(
      shared
        ? `jupyter_lapd: ${context.path} follows run ${run.id}; its outputs arrive through the shared document`
        : `jupyter_lapd: ${context.path} follows run ${run.id}`
    );
    this._changed.emit(context);
  }

  /**
   * Check the server for an active run of an open notebook, and follow it.
   */
  async check(context: DocumentRegistry.Context): Promise<void> {
    let runs: IRun[];
    try {
      runs = await listRuns(this._serverSettings, {
        path: context.localPath,
        status: ['queued', 'running']
      });
    } catch (reason) {
      console.error(
        `jupyter_lapd: cannot list the runs of ${context.path}`,
        reason
      );
      return;
    }
    if (runs.length > 0 && !context.isDisposed) {
      this.follow(context, runs[0]);
    }
  }

  /**
   * Follow the active runs of open notebooks that a runs listing shows.
   */
  onListed(runs: readonly IRun[]): void {
    const open = new Map<string, DocumentRegistry.Context>();
    this._tracker.forEach(panel => {
      if (panel.context.isReady) {
        open.set(panel.context.localPath, panel.context);
      }
    });
    for (const run of runs) {
      const context = open.get(run.path);
      if (
        context !== undefined &&
        isRunActive(run.status) &&
        this.activeRun(context) === null
      ) {
        this.follow(context, run);
      }
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const context of [...this._attachments.keys()]) {
      this._detach(context);
    }
    this._tracker.widgetAdded.disconnect(this._onWidgetAdded, this);
    this._saveCheck.dispose();
    Signal.clearData(this);
  }

  private _onWidgetAdded(_: INotebookTracker, panel: NotebookPanel): void {
    const context = panel.context;
    if (this._attachments.has(context)) {
      // Another view of a document that already follows its run.
      void context.ready.then(() => this._mark(context));
      return;
    }
    if (this._contexts.has(context)) {
      return;
    }
    this._contexts.add(context);
    context.disposed.connect(() => {
      this._contexts.delete(context);
      this._detach(context);
    });
    void context.ready.then(() => {
      // From the start: the save made by Run in background can overlap another.
      this._saveCheck.watch(context);
      return this.check(context);
    });
  }

  private _onRunChanged(context: DocumentRegistry.Context): void {
    const attachment = this._attachments.get(context);
    if (attachment === undefined) {
      return;
    }
    this._mark(context);
    if (!attachment.view.isActive) {
      console.info(
        `jupyter_lapd: run ${attachment.view.run.id} ended ${attachment.view.run.status}`
      );
      this._ended.add(attachment.view.run.id);
      this._detach(context);
    } else {
      this._changed.emit(context);
    }
  }

  /**
   * Note the file's current hash after a snapshot that does not carry the last write.
   *
   * The file this page loaded may predate the run's last write, whose `flushed` event
   * the snapshot then covers; without its hash the next save would ask about a changed
   * file. The model now holds the run's outputs up to the snapshot, which is at least
   * what the file holds, so the file's current hash is the right one to save against.
   */
  private async _syncFile(
    context: DocumentRegistry.Context,
    view: NotebookRunModel
  ): Promise<void> {
    const flushes = this._flushes.get(view) ?? 0;
    let file: Contents.IModel;
    try {
      file = await this._contents.get(context.path, {
        content: false,
        hash: true
      });
    } catch (reason) {
      console.warn(`jupyter_lapd: cannot stat ${context.path}`, reason);
      return;
    }
    // A flushed event that arrived meanwhile is newer than this answer.
    if (
      this._attachments.get(context)?.view === view &&
      (this._flushes.get(view) ?? 0) === flushes &&
      file.hash
    ) {
      this._saveCheck.noteWrite(context, file.hash);
    }
  }

  private _onSocketClosed(
    context: DocumentRegistry.Context,
    view: NotebookRunModel
  ): void {
    const attachment = this._attachments.get(context);
    if (attachment === undefined || attachment.view !== view) {
      return;
    }
    if (attachment.socket.failures < 2) {
      return;
    }
    // The socket cannot tell a missing run from a missing network: ask.
    getRun(this._serverSettings, view.run.id).catch(reason => {
      if (
        reason instanceof ServerConnection.ResponseError &&
        reason.response.status === 404 &&
        this._attachments.get(context)?.view === view
      ) {
        console.warn(`jupyter_lapd: run ${view.run.id} is gone`);
        this._detach(context);
      }
    });
  }

  private _detach(context: DocumentRegistry.Context): void {
    const attachment = this._attachments.get(context);
    if (attachment === undefined) {
      return;
    }
    this._attachments.delete(context);
    attachment.socket.dispose();
    attachment.view.dispose();
    attachment.dispose();
    this._mark(context);
    this._changed.emit(context);
  }

  /**
   * Mark or unmark the views of the document for the run it follows (`markViews`).
   */
  private _mark(context: DocumentRegistry.Context): void {
    markViews(
      this._tracker,
      context,
      this._attachments.get(context)?.view,
      this._trans.__('queued')
    );
  }

  private _tracker: INotebookTracker;
  private _serverSettings: ServerConnection.ISettings;
  private _contents: Contents.IManager;
  private _saveCheck: SaveCheck;
  private _flushes = new WeakMap<NotebookRunModel, number>();
  private _trans: TranslationBundle;
  private _contexts = new Set<DocumentRegistry.Context>();
  private _ended = new Set<string>();
  private _attachments = new Map<DocumentRegistry.Context, IAttachment>();
  private _changed = new Signal<this, DocumentRegistry.Context>(this);
  private _isDisposed = false;
}

/**
 * The namespace for `NotebookRuns` statics.
 */
export namespace NotebookRuns {
  export interface IOptions {
    tracker: INotebookTracker;
    /** Use `app.serviceManager.serverSettings`. */
    serverSettings: ServerConnection.ISettings;
    /** Use `app.serviceManager.contents`. */
    contents: Contents.IManager;
    trans: TranslationBundle;
  }
}

/**
 * A notebook following a run.
 */
interface IAttachment {
  view: NotebookRunModel;
  socket: RunEventSocket;
  /** Disconnect what the attachment listens to. */
  dispose: () => void;
}
