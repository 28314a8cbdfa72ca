/**
 * Keeps a run's own changes from touching a notebook's dirty flag.
 *
 * Every change to a cell's outputs or execution count sets the shared document's
 * `dirty` state to true (`@jupyter/ydoc` does it in each cell method), and a run's
 * outputs are not the user's unsaved work: the page used to set it back to false after
 * each change. Each of those two writes is a new entry in the document's state map, and
 * a map keeps a tombstone for every value it replaced, so a progress bar redrawn at
 * every frame left the page two tombstones per frame for as long as it stayed open. The
 * guard drops the `dirty = true` the run's own changes would write instead, so that the
 * flag, and the document, are left as they were.
 */

import type { INotebookModel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

type Held = () => boolean;
type ISharedNotebook = INotebookModel['sharedModel'];

/**
 * While `held()` is true, writes of `true` to `shared.dirty` are dropped.
 *
 * Several guards may hold one document (one per run shown in it); the accessor goes
 * when the last is disposed. Where the document has no `dirty` accessor to wrap (a
 * future `@jupyter/ydoc`), the guard does nothing.
 */
export function guardDirty(shared: ISharedNotebook, held: Held): IDisposable {
  let guard = guards.get(shared);
  if (guard === undefined) {
    const created = install(shared);
    if (created === null) {
      return { isDisposed: false, dispose: () => undefined };
    }
    guard = created;
    guards.set(shared, guard);
  }
  const holds = guard.holds;
  holds.add(held);
  let disposed = false;
  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (disposed) {
        return;
      }
      disposed = true;
      holds.delete(held);
      if (holds.size === 0) {
        // the prototype's accessor again
        delete (shared as unknown as Record<string, unknown>).dirty;
        guards.delete(shared);
      }
    }
  };
}

interface IGuard {
  holds: Set<Held>;
}

const guards = new WeakMap<ISharedNotebook, IGuard>();

function install(shared: ISharedNotebook): IGuard | null {
  let descriptor: PropertyDescriptor | undefined;
  for (
    let proto = Object.getPrototypeOf(shared);
    proto !== null && descriptor === undefined;
    proto = Object.getPrototypeOf(proto)
  ) {
    descriptor = Object.getOwnPropertyDescriptor(proto, 'dirty');
  }
  const { get, set } = descriptor ?? {};
  if (get === undefined || set === undefined) {
    return null;
  }
  const guard: IGuard = { holds: new Set() };
  Object.defineProperty(shared, 'dirty', {
    configurable: true,
    get(): boolean {
      return get.call(this);
    },
    set(value: boolean): void {
      if (value) {
        for (const held of guard.holds) {
          if (held()) {
            return;
          }
        }
      }
      set.call(this, value);
    }
  });
  return guard;
}
