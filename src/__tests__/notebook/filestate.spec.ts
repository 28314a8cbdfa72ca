/**
 * Unit tests of adoptServerWrite (how a document context takes the run's writes) and
 * SaveCheck (which file states a save's check accepts).
 */

import { Context, DocumentRegistry } from '@jupyterlab/docregistry';
import { Contents } from '@jupyterlab/services';

import { YNotebook } from '@jupyter/ydoc';
import { Signal } from '@lumino/signaling';

import { adoptServerWrite } from '../../notebook/filestate';
import { SaveCheck } from '../../notebook/savecheck';
import { loadedModel } from '../fixtures';

const LOADED = loadedModel('dir/nb.ipynb');

function fakeContext(withUpdate: boolean) {
  const context = {
    contentsModel: { ...LOADED } as Contents.IModel | null,
    updates: [] as Contents.IModel[],
    _updateContentsModel: undefined as
      ((model: Contents.IModel) => void) | undefined
  };
  if (withUpdate) {
    context._updateContentsModel = function (model: Contents.IModel) {
      // As the real one: keep the model, without content.
      context.updates.push(model);
      context.contentsModel = model;
    };
  }
  return context;
}

describe('adoptServerWrite', () => {
  it("finds the update method on this JupyterLab's document context", () => {
    // Fails when a JupyterLab upgrade renames it: saving during a run would then ask
    // about a changed file again (see adoptServerWrite).
    const prototype = Context.prototype as unknown as {
      _updateContentsModel?: unknown;
    };
    expect(typeof prototype._updateContentsModel).toBe('function');
  });

  it("gives the context the file's new hash and modification time", () => {
    const context = fakeContext(true);
    const adopted = adoptServerWrite(
      context as unknown as DocumentRegistry.Context,
      { last_modified: '2026-01-01T00:00:09Z', hash: 'written' }
    );
    expect(adopted).toBe(true);
    expect(context.updates).toEqual([
      {
        ...LOADED,
        last_modified: '2026-01-01T00:00:09Z',
        hash: 'written',
        hash_algorithm: 'sha256',
        content: null
      }
    ]);
  });

  it('does nothing when the context already has that file', () => {
    const context = fakeContext(true);
    adoptServerWrite(context as unknown as DocumentRegistry.Context, {
      last_modified: LOADED.last_modified,
      hash: 'loaded'
    });
    expect(context.updates).toEqual([]);
  });

  it('degrades to nothing, with one warning, without the update method', () => {
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    const context = fakeContext(false);
    for (let i = 0; i < 2; i++) {
      expect(
        adoptServerWrite(context as unknown as DocumentRegistry.Context, {
          last_modified: 't',
          hash: `h${i}`
        })
      ).toBe(false);
    }
    expect(context.contentsModel?.hash).toBe('loaded');
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });
});

/**
 * A context as SaveCheck uses it: a path, a contents model, save states, disposal.
 */
function savingContext() {
  const context = fakeContext(true);
  const saveState = new Signal<unknown, DocumentRegistry.SaveState>(context);
  const disposed = new Signal<unknown, void>(context);
  return Object.assign(context, {
    path: LOADED.path,
    isDisposed: false,
    model: { collaborative: false },
    saveState,
    disposed
  });
}

/**
 * A contents manager whose `get` answers with the file state in `disk`.
 */
function contentsOn(disk: { hash: string }) {
  return {
    get: async (path: string, options?: Contents.IFetchOptions) => ({
      ...LOADED,
      path,
      hash: disk.hash,
      last_modified: `t-${disk.hash}`
    })
  } as unknown as Contents.IManager;
}

describe('SaveCheck', () => {
  const HASH_ONLY = { content: false, hash: true };

  function setUp(disk: { hash: string }, writing = true) {
    const contents = contentsOn(disk);
    const context = savingContext();
    const check = new SaveCheck(contents, () => writing);
    check.watch(context as unknown as DocumentRegistry.Context);
    return { contents, context, check };
  }

  it("gives a save's check a state the page knew, answered late", async () => {
    const disk = { hash: 'write-1' };
    const { contents, context, check } = setUp(disk);
    check.noteWrite(context as unknown as DocumentRegistry.Context, 'write-1');
    // A newer write's event was taken while the check's answer was on its way.
    context.contentsModel = { ...LOADED, hash: 'write-2' };
    context.saveState.emit('started');
    const answer = await contents.get(LOADED.path, HASH_ONLY);
    expect(answer.hash).toBe('write-1');
    expect(context.contentsModel?.hash).toBe('write-1');
    check.dispose();
  });

  it('waits for the event of a write the check already sees', async () => {
    const disk = { hash: 'write-1' };
    const { contents, context, check } = setUp(disk);
    context.saveState.emit('started');
    const checked = contents.get(LOADED.path, HASH_ONLY);
    setTimeout(
      () =>
        check.noteWrite(
          context as unknown as DocumentRegistry.Context,
          'write-1'
        ),
      50
    );
    await checked;
    expect(context.contentsModel?.hash).toBe('write-1');
    check.dispose();
  });

  it('leaves a state nobody announced for JupyterLab to ask about', async () => {
    jest.useFakeTimers();
    const disk = { hash: 'someone-else' };
    const { contents, context, check } = setUp(disk);
    context.saveState.emit('started');
    const checked = contents.get(LOADED.path, HASH_ONLY);
    await jest.advanceTimersByTimeAsync(2500);
    await checked;
    expect(context.contentsModel?.hash).toBe('loaded');
    jest.useRealTimers();
    check.dispose();
  });

  it("checks only the save's first fetch, and only while a save runs", async () => {
    const disk = { hash: 'write-1' };
    const { contents, context, check } = setUp(disk, false);
    check.noteWrite(context as unknown as DocumentRegistry.Context, 'write-1');
    await contents.get(LOADED.path, HASH_ONLY);
    expect(context.contentsModel?.hash).toBe('loaded');
    context.saveState.emit('started');
    await contents.get(LOADED.path, HASH_ONLY);
    expect(context.contentsModel?.hash).toBe('write-1');
    // The fetch after the save's PUT is the context's own business.
    context.contentsModel = { ...LOADED, hash: 'saved' };
    await contents.get(LOADED.path, HASH_ONLY);
    expect(context.contentsModel?.hash).toBe('saved');
    check.dispose();
  });

  it("sends a save's check once the page's earlier save has ended", async () => {
    // Run in background saves the notebook while JupyterLab's autosave starts another
    // save; no run writes yet. Without waiting, the second check sees the first
    // save's file before the context has taken its hash: "File Changed".
    const disk = { hash: 'loaded' };
    const { contents, context, check } = setUp(disk, false);
    context.saveState.emit('started');
    expect((await contents.get(LOADED.path, HASH_ONLY)).hash).toBe('loaded');
    disk.hash = 'save-1';
    context.saveState.emit('started');
    let seen: string | null = null;
    const checked = contents.get(LOADED.path, HASH_ONLY).then(answer => {
      // The context compares as soon as its check is answered.
      seen = context.contentsModel?.hash === answer.hash ? 'same' : 'differs';
    });
    // Every answer in flight arrives before the first save ends.
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(seen).toBeNull();
    // The first save ends: its own fetch of the hash, then its completion.
    const saved = await contents.get(LOADED.path, HASH_ONLY);
    context.contentsModel = { ...LOADED, hash: saved.hash };
    expect(seen).toBeNull();
    context.saveState.emit('completed');
    await checked;
    expect(seen).toBe('same');
    check.dispose();
  });

  it('forgets an earlier save that never ended', async () => {
    jest.useFakeTimers();
    const disk = { hash: 'loaded' };
    const { contents, context, check } = setUp(disk, false);
    // A save cancelled at a dialog emits no end.
    context.saveState.emit('started');
    await contents.get(LOADED.path, HASH_ONLY);
    context.saveState.emit('started');
    let answered = 0;
    void contents.get(LOADED.path, HASH_ONLY).then(() => answered++);
    await jest.advanceTimersByTimeAsync(5500);
    expect(answered).toBe(1);
    // The next save's check is not held back by it.
    context.saveState.emit('completed');
    context.saveState.emit('started');
    void contents.get(LOADED.path, HASH_ONLY).then(() => answered++);
    await jest.advanceTimersByTimeAsync(0);
    expect(answered).toBe(2);
    jest.useRealTimers();
    check.dispose();
  });

  it('gives the contents manager its own get back when disposed', () => {
    const contents = contentsOn({ hash: 'x' });
    const get = contents.get;
    const check = new SaveCheck(contents, () => true);
    expect(contents.get).not.toBe(get);
    check.dispose();
    expect(contents.get).toBe(get);
  });
});

describe('SaveCheck, collaborative document', () => {
  const HASH_ONLY = { content: false, hash: true };

  /** A collaborative context whose room last announced `announced`. */
  function setUp(disk: { hash: string }, announced: string) {
    const contents = contentsOn(disk);
    const sharedModel = YNotebook.create();
    sharedModel.setState('hash', announced);
    const context = Object.assign(savingContext(), {
      model: { collaborative: true, sharedModel }
    });
    const check = new SaveCheck(contents, () => true);
    check.watch(context as unknown as DocumentRegistry.Context);
    return { contents, context, check, sharedModel };
  }

  it('takes a save the room announced, which the page had not taken yet', async () => {
    const { contents, context, check } = setUp(
      { hash: 'saved-by-bob' },
      'saved-by-bob'
    );
    context.saveState.emit('started');
    await contents.get(LOADED.path, HASH_ONLY);
    expect(context.contentsModel?.hash).toBe('saved-by-bob');
    expect(context.contentsModel?.last_modified).toBe('t-saved-by-bob');
    check.dispose();
  });

  it('waits for the room to announce a save the check already sees', async () => {
    const { contents, context, check, sharedModel } = setUp(
      { hash: 'saved-by-bob' },
      'loaded'
    );
    context.saveState.emit('started');
    const checked = contents.get(LOADED.path, HASH_ONLY);
    setTimeout(() => sharedModel.setState('hash', 'saved-by-bob'), 50);
    await checked;
    expect(context.contentsModel?.hash).toBe('saved-by-bob');
    check.dispose();
  });

  it('takes the next save the room announces after one it never announced', async () => {
    // The room wrote the file, then dropped the save's hash (someone typed during it).
    const disk = { hash: 'unannounced' };
    const { contents, context, check, sharedModel } = setUp(disk, 'loaded');
    context.saveState.emit('started');
    const checked = contents.get(LOADED.path, HASH_ONLY);
    setTimeout(() => {
      disk.hash = 'next-save';
      sharedModel.setState('hash', 'next-save');
    }, 50);
    const answer = await checked;
    // JupyterLab compares the answer with the hash it has: both are the new save's.
    expect(answer.hash).toBe('next-save');
    expect(answer.last_modified).toBe('t-next-save');
    expect(context.contentsModel?.hash).toBe('next-save');
    check.dispose();
  });

  it('leaves a change the room did not save for JupyterLab to ask about', async () => {
    jest.useFakeTimers();
    const { contents, context, check } = setUp(
      { hash: 'another-program' },
      'loaded'
    );
    context.saveState.emit('started');
    const checked = contents.get(LOADED.path, HASH_ONLY);
    await jest.advanceTimersByTimeAsync(2500);
    await checked;
    expect(context.contentsModel?.hash).toBe('loaded');
    jest.useRealTimers();
    check.dispose();
  });
});
