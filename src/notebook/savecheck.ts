/**
 * The pre-save check of a notebook a run writes: which states of the file on disk a
 * document's save may accept without asking "File Changed: overwrite or revert?".
 */

import { DocumentRegistry } from '@jupyterlab/docregistry';
import { Contents } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import {
  adoptFileState,
  adoptServerWrite,
  isCollaborative,
  nextRoomSave,
  roomHash
} from './filestate';

/**
 * How long a save's check waits for the `flushed` event of a write it already sees.
 */
const FLUSH_WAIT_MS = 2000;

/**
 * How long a save's check waits for the page's earlier saves of the document to end:
 * a save usually takes well under a second, even of a large notebook.
 */
const SAVE_WAIT_MS = 5000;

/**
 * File states remembered per document: enough for writes a second apart, a few saves
 * and event delays, and bounded for a run that writes for days.
 */
const KNOWN_STATES = 64;

/**
 * Lets a document's save go ahead when the file on disk is a state the page consented
 * to: a write of the run it follows, or its own last save; for a collaborative
 * document, a save its room announced.
 *
 * The run writes the file every second and each write reaches the page as a `flushed`
 * event, which `noteWrite` records. The context's check before a save (`_maybeSave`:
 * fetch the file's hash, compare it with its own) would find a file it never saw and
 * ask "File Changed: overwrite or revert?" about a file nobody else touched. Giving
 * each write to the context as it comes would race with the check anyway (the fetch
 * can see a write whose event is still on its way, or answer with a state older than
 * an event handled meanwhile), and would stop the autosave (see `adoptServerWrite`).
 *
 * So this wraps the contents manager's `get`: when a watched document's save starts,
 * its check's answer is compared with what the page knows: a known state becomes the
 * context's (the check then passes), and an unknown one while a run is active waits
 * up to `FLUSH_WAIT_MS` for that write's event. Anything else (a real change by
 * someone else) still asks. Whatever the user answers, the server keeps the run's
 * outputs in the saved file.
 *
 * A page's saves can also overlap: Run in background saves the notebook first, and
 * JupyterLab's autosave (or a Ctrl+S) may start another save before that one ends. The
 * later save's check would then see the file the earlier one just wrote, before the
 * context has taken its hash, and ask about the page's own save. So a check is sent
 * only once the page's earlier saves of that document have ended (up to
 * `SAVE_WAIT_MS`), as if the saves were made one after the other.
 */
export class SaveCheck implements IDisposable {
  /**
   * @param contents - the service manager's contents manager, whose `get` the
   *   document contexts use.
   * @param isWriting - whether a run still writes the document's file.
   */
  constructor(
    contents: Contents.IManager,
    isWriting: (context: DocumentRegistry.Context) => boolean
  ) {
    this._contents = contents;
    this._isWriting = isWriting;
    const get = contents.get;
    this._originalGet = get;
    contents.get = (path: string, options?: Contents.IFetchOptions) => {
      const checks = this._claimChecks(path, options);
      if (checks.length === 0) {
        return get.call(contents, path, options);
      }
      return afterEarlierSaves(checks)
        .then(() => get.call(contents, path, options))
        .then(model => this._checked(checks, model, options));
    };
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Watch a document's saves, for as long as its context lives.
   */
  watch(context: DocumentRegistry.Context): void {
    if (this._isDisposed || this._docs.has(context)) {
      return;
    }
    const doc: IDocState = {
      known: [],
      checking: false,
      saving: 0,
      waiters: [],
      saveEnds: [],
      shared: isCollaborative(context)
    };
    this._docs.set(context, doc);
    remember(doc, context.contentsModel?.hash);
    const onSave = (_: unknown, state: DocumentRegistry.SaveState) => {
      if (state === 'started') {
        // The first fetch after a save starts is its check (`_maybeSave`).
        doc.checking = true;
        doc.saving += 1;
        return;
      }
      if (state === 'completed') {
        remember(doc, context.contentsModel?.hash);
      }
      doc.saving = Math.max(0, doc.saving - 1);
      for (const ended of doc.saveEnds.splice(0)) {
        ended();
      }
    };
    context.saveState.connect(onSave);
    context.disposed.connect(() => {
      context.saveState.disconnect(onSave);
      this._docs.delete(context);
    });
  }

  /**
   * A write of the followed run reached the file: a state the page consents to.
   */
  noteWrite(context: DocumentRegistry.Context, hash: string | null): void {
    const doc = this._docs.get(context);
    if (doc === undefined || !hash) {
      return;
    }
    remember(doc, hash);
    for (const waiter of doc.waiters.splice(0)) {
      waiter();
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._contents.get = this._originalGet;
    this._docs.clear();
  }

  /**
   * The documents whose save's check this fetch is: a fetch of the file's hash alone,
   * the first since the save started. Decided as the fetch is sent, since answers
   * can arrive in any order (the check of one save, the fetch ending another).
   */
  private _claimChecks(
    path: string,
    options: Contents.IFetchOptions | undefined
  ): Array<[DocumentRegistry.Context, IDocState]> {
    if (options?.content !== false || !options.hash) {
      return [];
    }
    const checks: Array<[DocumentRegistry.Context, IDocState]> = [];
    for (const [context, doc] of this._docs) {
      if (context.path === path && doc.checking && !context.isDisposed) {
        doc.checking = false;
        checks.push([context, doc]);
      }
    }
    return checks;
  }

  private async _checked(
    checks: Array<[DocumentRegistry.Context, IDocState]>,
    model: Contents.IModel,
    options: Contents.IFetchOptions | undefined
  ): Promise<Contents.IModel> {
    for (const [context, doc] of checks) {
      if (model.hash && !context.isDisposed) {
        model = await this._reconcile(context, doc, model, options);
      }
    }
    return model;
  }

  /**
   * The check's answer, or a newer state of the file the context then takes.
   */
  private async _reconcile(
    context: DocumentRegistry.Context,
    doc: IDocState,
    model: Contents.IModel,
    options: Contents.IFetchOptions | undefined
  ): Promise<Contents.IModel> {
    const hash = model.hash!;
    if (context.contentsModel?.hash === hash) {
      return model;
    }
    const deadline = Date.now() + FLUSH_WAIT_MS;
    if (doc.shared) {
      return this._reconcileShared(context, model, options, deadline);
    }
    while (
      !doc.known.includes(hash) &&
      this._isWriting(context) &&
      Date.now() < deadline
    ) {
      await nextOf(doc.waiters, deadline - Date.now());
    }
    if (doc.known.includes(hash) && !context.isDisposed) {
      adoptServerWrite(context, { hash, last_modified: model.last_modified });
    }
    return model;
  }

  /**
   * A save by the room (a collaborator's, the room's autosave, one a run asked for)
   * that the page has not taken yet: the room announces the file's hash in the
   * document's state as the save ends, and the page then fetches the file's state
   * before taking it. A change the room did not save (another program wrote the file)
   * never shows there: JupyterLab asks about it.
   *
   * A save the room started over (any change of the document during a save cancels
   * it: someone typed) still writes the file but announces nothing; the room's next
   * save, a moment later, does. So when the room announces a save other than the one
   * the check saw, the file's state is asked again: if it is the announced one, that
   * is the answer the check gets.
   */
  private async _reconcileShared(
    context: DocumentRegistry.Context,
    model: Contents.IModel,
    options: Contents.IFetchOptions | undefined,
    deadline: number
  ): Promise<Contents.IModel> {
    let asked = model.hash;
    while (!context.isDisposed) {
      const announced = roomHash(context);
      if (announced === model.hash) {
        adoptFileState(context, model.hash, model.last_modified);
        return model;
      }
      if (announced !== null && announced !== asked) {
        asked = announced;
        const fresh = await this._originalGet.call(
          this._contents,
          context.path,
          options
        );
        if (fresh.hash === announced) {
          model = {
            ...model,
            hash: fresh.hash,
            last_modified: fresh.last_modified
          };
          continue;
        }
      }
      if (Date.now() >= deadline) {
        break;
      }
      await nextRoomSave(context, deadline - Date.now());
    }
    return model;
  }

  private _contents: Contents.IManager;
  private _originalGet: Contents.IManager['get'];
  private _isWriting: (context: DocumentRegistry.Context) => boolean;
  private _docs = new Map<DocumentRegistry.Context, IDocState>();
  private _isDisposed = false;
}

/**
 * What the page knows of one document's file.
 */
interface IDocState {
  /** The file states it consents to, oldest first. */
  known: string[];
  /** A save has started and its check has not been sent yet. */
  checking: boolean;
  /** The page's saves of the document that have started and not ended. */
  saving: number;
  /** Checks waiting for a `flushed` event. */
  waiters: Array<() => void>;
  /** Checks waiting for an earlier save to end. */
  saveEnds: Array<() => void>;
  /** A collaborative document: its room saves the file. */
  shared: boolean;
}

function remember(doc: IDocState, hash: string | null | undefined): void {
  if (hash && !doc.known.includes(hash)) {
    doc.known.push(hash);
    doc.known.splice(0, Math.max(0, doc.known.length - KNOWN_STATES));
  }
}

/**
 * Resolves when one of `waiters` is called (a noted write, a save's end), or after `ms`.
 */
function nextOf(waiters: Array<() => void>, ms: number): Promise<void> {
  return new Promise<void>(resolve => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, ms);
    waiters.push(done);
  });
}

/**
 * Resolves once each document's saves that started before its check have ended, or
 * after `SAVE_WAIT_MS`. A save that never ends (cancelled at a dialog, which emits no
 * end) is then forgotten, so it delays no later check.
 */
async function afterEarlierSaves(
  checks: Array<[DocumentRegistry.Context, IDocState]>
): Promise<void> {
  const deadline = Date.now() + SAVE_WAIT_MS;
  for (const [context, doc] of checks) {
    while (doc.saving > 1 && !context.isDisposed && Date.now() < deadline) {
      await nextOf(doc.saveEnds, deadline - Date.now());
    }
    if (doc.saving > 1) {
      doc.saving = 1;
    }
  }
}
