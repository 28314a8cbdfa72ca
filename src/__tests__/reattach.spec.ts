/**
 * Unit tests of adoptServerWrite: how a document context takes the run's writes.
 */

import { Context, DocumentRegistry } from '@jupyterlab/docregistry';
import { Contents } from '@jupyterlab/services';

import { adoptServerWrite } from '../reattach';
import { loadedModel } from './fixtures';

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
