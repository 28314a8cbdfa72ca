/**
 * The page's view of a notebook file that a run writes: whether a room saves it, the
 * file's hash its room announced, and which writes the document context takes as its
 * own. Which file states a save may accept is `SaveCheck`'s (savecheck.ts).
 */

import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel } from '@jupyterlab/notebook';
import { Contents } from '@jupyterlab/services';
import { ISignal } from '@lumino/signaling';

import { IFlushState } from '../api/runevents';

/**
 * Whether a document is a collaborative shared document (jupyter-collaboration's
 * docprovider supplies its model, and a room on the server saves it).
 *
 * jupyter-collaboration is optional: without it, or with RTC disabled (its page config
 * `disableRTC`), models are not collaborative and the page applies the run's events.
 */
export function isCollaborative(context: DocumentRegistry.Context): boolean {
  return (
    (context.model as Partial<INotebookModel> | null)?.collaborative === true
  );
}

let warnedNoUpdate = false;

/**
 * Make a document context take a write the server made as its own view of the file.
 *
 * Before each save, JupyterLab's context compares the file's hash (or, without one, its
 * modification time) with the ones it last saw, and asks "File Changed: overwrite or
 * revert?" when they differ. The run writes the file every second, so without this the
 * user's next save would always ask. JupyterLab 4.6 has no public way to tell a context
 * that the file changed with its consent: its contents model is updated only by its own
 * save or revert, by a rename, and for collaborative documents by a server-side save
 * (`Context._onFileChanged`). Content providers do not help either: they are chosen
 * per widget factory (the collaboration extension owns the notebook's) and a provider's
 * `fileChanged` reaches the context only for collaborative documents. So this calls the
 * context's own update method, `_updateContentsModel`, the path those cases take.
 *
 * It is called when a save's check finds the run's write on disk (`SaveCheck`), not
 * at each write: the context takes a new file state as a save of its own, which moves
 * the tab's "last saved" time and restarts JupyterLab's autosave timer. At every write
 * of the run (every second) the autosave, every two minutes by default, would never
 * come, and the user's edits would stay unsaved for as long as the run lasts.
 *
 * If a later JupyterLab renames it, this does nothing: the user may then see the
 * dialog, and whichever button they press, the server keeps the run's outputs.
 *
 * Collaborative documents never take it: their room saves the file and reports its
 * hash to the context itself; nor do writes without a hash (the server then put the
 * outputs into a room's shared document, not into the file).
 *
 * @returns whether the context took the new hash.
 */
export function adoptServerWrite(
  context: DocumentRegistry.Context,
  flush: Pick<IFlushState, 'last_modified' | 'hash'>
): boolean {
  if (!flush.hash || isCollaborative(context)) {
    // The server wrote no file (a room saves the shared document), or the document is
    // collaborative: its room reports the file's hash after each of its saves.
    return false;
  }
  return adoptFileState(context, flush.hash, flush.last_modified);
}

/**
 * Give the context `hash` and `lastModified` as the file's state it last saw.
 */
export function adoptFileState(
  context: DocumentRegistry.Context,
  hash: string,
  lastModified: string
): boolean {
  const flush = { hash, last_modified: lastModified };
  const current = context.contentsModel;
  const update = (context as unknown as { _updateContentsModel?: unknown })
    ._updateContentsModel;
  if (current === null || typeof update !== 'function') {
    if (!warnedNoUpdate) {
      warnedNoUpdate = true;
      console.warn(
        "jupyter_lapd: this JupyterLab's document context cannot take the server's writes; saving during a run may ask about a changed file"
      );
    }
    return false;
  }
  if (
    current.hash === flush.hash &&
    current.last_modified === flush.last_modified
  ) {
    return true;
  }
  // The context keeps no content in its contents model (`_updateContentsModel`).
  const model: Contents.IModel = {
    ...current,
    content: null,
    last_modified: flush.last_modified,
    hash: flush.hash,
    hash_algorithm: 'sha256'
  };
  (update as (model: Contents.IModel) => void).call(context, model);
  return true;
}

/**
 * The file's hash a collaborative document's room announced after its last save (the
 * document state's `hash`, which jupyter-collaboration sets as each save ends), or null.
 */
export function roomHash(context: DocumentRegistry.Context): string | null {
  const shared = (context.model as Partial<INotebookModel> | null)
    ?.sharedModel as { getState?: (key: string) => unknown } | undefined;
  const hash = shared?.getState?.('hash');
  return typeof hash === 'string' ? hash : null;
}

/**
 * Resolves at the next change of the room's announced hash, or after `ms`.
 */
export function nextRoomSave(
  context: DocumentRegistry.Context,
  ms: number
): Promise<void> {
  const shared = (context.model as Partial<INotebookModel> | null)
    ?.sharedModel as
    | {
        changed: ISignal<unknown, { stateChange?: Array<{ name: string }> }>;
      }
    | undefined;
  return new Promise<void>(resolve => {
    const onChange = (
      _: unknown,
      change: { stateChange?: Array<{ name: string }> }
    ) => {
      if (change.stateChange?.some(state => state.name === 'hash')) {
        done();
      }
    };
    const done = () => {
      clearTimeout(timer);
      shared?.changed.disconnect(onChange);
      resolve();
    };
    const timer = setTimeout(done, ms);
    shared?.changed.connect(onChange);
  });
}
