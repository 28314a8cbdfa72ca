/**
 * Unit tests of background runs in collaborative notebooks (jupyter-collaboration):
 * the server puts the run's outputs into the shared document, so the page follows the
 * run's state only, never applies its outputs, and never adopts a file hash.
 */

import { DocumentRegistry } from '@jupyterlab/docregistry';
import * as nbformat from '@jupyterlab/nbformat';
import { INotebookTracker, NotebookModel } from '@jupyterlab/notebook';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import { IFlushState } from '../../api/runevents';
import { NotebookRunModel } from '../../notebook/notebookrun';
import { adoptServerWrite, isCollaborative } from '../../notebook/filestate';
import { NotebookRuns } from '../../notebook/reattach';
import { cell, loadedModel, manualFrames, outputs, stdout } from '../fixtures';
import {
  makeNotebook,
  RUN,
  runEvents,
  sharedFlush,
  snapshot
} from './sharedrun';

describe('NotebookRunModel in a shared document', () => {
  let model: NotebookModel;
  let view: NotebookRunModel;

  beforeEach(() => {
    model = makeNotebook(true);
    view = new NotebookRunModel({ model, run: RUN, shared: true });
  });

  afterEach(() => {
    view.dispose();
    model.dispose();
  });

  it('follows the run without touching the model', () => {
    const before = model.toJSON();
    const states: string[] = [];
    view.stateChanged.connect(() => states.push(view.run.status));
    expect(view.shared).toBe(true);

    expect(view.apply(snapshot(0))).toBe(true);
    expect(view.since()).toBe(0);
    expect(view.queuedCellIds).toEqual(['c2']);
    expect(view.cellStatus('c1')).toBe('running');

    const events = runEvents();
    for (const event of events.slice(0, 4)) {
      expect(view.apply(event)).toBe(true);
    }
    expect(view.cellStatus('c1')).toBe('done');
    expect(view.cellStatus('c2')).toBe('running');
    expect(view.queuedCellIds).toEqual([]);
    for (const event of events.slice(4)) {
      expect(view.apply(event)).toBe(true);
    }
    expect(view.isActive).toBe(false);
    expect(view.run.status).toBe('completed');
    expect(states[states.length - 1]).toBe('completed');

    // Outputs, counts, running state, timings: all as loaded, the server's to change.
    expect(model.toJSON()).toEqual(before);
    expect(cell(model, 'c1').executionState).toBe('idle');
    expect(model.dirty).toBe(false);
  });

  it('still drops duplicates and asks for a snapshot after a gap', () => {
    const resync = jest.fn();
    view.resyncRequested.connect(resync);
    view.apply(snapshot(0));
    const [first, , third] = runEvents();
    expect(view.apply(first)).toBe(true);
    expect(view.apply(first)).toBe(false);
    expect(view.apply(third)).toBe(false);
    expect(resync).toHaveBeenCalledTimes(1);
    expect(view.since()).toBeNull();
  });

  it('leaves the dirty flag to the room', () => {
    view.apply(snapshot(0));
    model.dirty = true;
    for (const event of runEvents()) {
      view.apply(event);
    }
    expect(model.dirty).toBe(true);
  });

  it("shows the server's outputs exactly once", () => {
    view.apply(snapshot(0));
    // The server's write into the shared document, as the room delivers it.
    const c1 = model.sharedModel.getCell(0) as unknown as {
      setOutputs(outputs: nbformat.IOutput[]): void;
      execution_count: number | null;
    };
    const shown: nbformat.IDisplayData = {
      output_type: 'display_data',
      data: { 'text/plain': 'a' },
      metadata: {}
    };
    c1.setOutputs([shown]);
    c1.execution_count = 7;
    for (const event of runEvents().slice(0, 3)) {
      view.apply(event);
    }
    expect(outputs(model, 'c1')).toEqual([shown]);
    expect(cell(model, 'c1').executionCount).toBe(7);
  });

  it('reports flushes without a hash', () => {
    const flushes: IFlushState[] = [];
    view.flushed.connect((_, flush) => flushes.push(flush));
    view.apply(snapshot(0, { flushed: sharedFlush(0) }));
    for (const event of runEvents()) {
      view.apply(event);
    }
    expect(flushes.map(f => [f.upto, f.hash, f.destination])).toEqual([
      [0, null, 'shared_document'],
      [1, null, 'shared_document'],
      [6, null, 'shared_document']
    ]);
  });
});

describe('NotebookRunModel in a notebook that is not shared', () => {
  it('still applies the events to the model', () => {
    const model = makeNotebook(false);
    const view = new NotebookRunModel({ model, run: RUN });
    expect(view.shared).toBe(false);
    view.apply(snapshot(0));
    for (const event of runEvents()) {
      view.apply(event);
    }
    expect(outputs(model, 'c1')).toEqual([stdout('from the snapshot\na\n')]);
    expect(outputs(model, 'c2')).toEqual([stdout('b\n')]);
    expect(cell(model, 'c1').executionCount).toBe(7);
    view.dispose();
    model.dispose();
  });
});

const LOADED = loadedModel('nb.ipynb');

/**
 * A document context as NotebookRuns and adoptServerWrite use it.
 */
function fakeContext(model: NotebookModel) {
  const context = {
    path: 'nb.ipynb',
    localPath: 'nb.ipynb',
    model,
    isDisposed: false,
    isReady: true,
    ready: Promise.resolve(),
    disposed: new Signal<unknown, void>({}),
    saveState: new Signal<unknown, DocumentRegistry.SaveState>({}),
    contentsModel: { ...LOADED } as Contents.IModel,
    updates: [] as Contents.IModel[],
    _updateContentsModel(update: Contents.IModel) {
      context.updates.push(update);
      context.contentsModel = update;
    }
  };
  return context;
}

describe('adoptServerWrite and collaborative documents', () => {
  it('tells collaborative documents apart', () => {
    const shared = makeNotebook(true);
    const plain = makeNotebook(false);
    expect(
      isCollaborative(
        fakeContext(shared) as unknown as DocumentRegistry.Context
      )
    ).toBe(true);
    expect(
      isCollaborative(fakeContext(plain) as unknown as DocumentRegistry.Context)
    ).toBe(false);
    shared.dispose();
    plain.dispose();
  });

  it('never gives a collaborative document a hash', () => {
    const model = makeNotebook(true);
    const context = fakeContext(model);
    expect(
      adoptServerWrite(context as unknown as DocumentRegistry.Context, {
        last_modified: '2026-01-01T00:00:09Z',
        hash: 'written'
      })
    ).toBe(false);
    expect(context.updates).toEqual([]);
    model.dispose();
  });

  it('ignores a write without a hash', () => {
    const model = makeNotebook(false);
    const context = fakeContext(model);
    expect(
      adoptServerWrite(context as unknown as DocumentRegistry.Context, {
        last_modified: '2026-01-01T00:00:09Z',
        hash: null
      })
    ).toBe(false);
    expect(context.updates).toEqual([]);
    expect(context.contentsModel.hash).toBe('loaded');
    model.dispose();
  });
});

class FakeSocket {
  static instances: FakeSocket[] = [];

  constructor(public url: string) {
    FakeSocket.instances.push(this);
  }

  readyState = 1;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;

  send(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  close(): void {
    this.readyState = 3;
  }
}

describe('NotebookRuns following a run of a collaborative notebook', () => {
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/',
    wsUrl: 'ws://localhost:8888/',
    WebSocket: FakeSocket as unknown as typeof WebSocket
  });

  function setUp(collaborative: boolean) {
    const model = makeNotebook(collaborative);
    const context = fakeContext(model);
    const tracker = {
      widgetAdded: new Signal<unknown, unknown>({}),
      forEach: () => undefined
    };
    // The file on disk, as the contents API answers for it.
    const disk = { hash: 'stat' };
    const get = jest.fn(async () => ({
      ...LOADED,
      last_modified: '2026-01-01T00:00:03Z',
      hash: disk.hash
    }));
    const contents = { get } as unknown as Contents.IManager;
    const runs = new NotebookRuns({
      tracker: tracker as unknown as INotebookTracker,
      serverSettings,
      contents,
      trans: nullTranslator.load('jupyter_lapd')
    });
    FakeSocket.instances = [];
    runs.follow(context as unknown as DocumentRegistry.Context, RUN);
    return { model, context, runs, get, contents, disk };
  }

  let frames: ReturnType<typeof manualFrames>;
  beforeEach(() => {
    frames = manualFrames();
  });

  afterEach(() => {
    frames.restore();
    jest.restoreAllMocks();
  });

  it('follows the run, applies no output and adopts no hash', async () => {
    jest.spyOn(console, 'info').mockImplementation(() => undefined);
    const { model, context, runs, get } = setUp(true);
    const docContext = context as unknown as DocumentRegistry.Context;
    const before = model.toJSON();
    expect(runs.activeRun(docContext)?.id).toBe('r1');
    expect(FakeSocket.instances).toHaveLength(1);
    const socket = FakeSocket.instances[0];
    // (asking for catch-up snapshots, applied as any other: NotebookRunModel)
    expect(socket.url).toBe(
      'ws://localhost:8888/lapd/api/runs/r1/events?catchup=1'
    );

    // A snapshot without `flushed`: a plain page would stat the file for its hash.
    socket.send(snapshot(0));
    const events = runEvents();
    for (const event of events.slice(0, 7)) {
      socket.send(event);
    }
    // Even a flush that carries a hash (a server without shared-document support).
    socket.send({
      seq: 8,
      type: 'flushed',
      upto: 7,
      last_modified: '2026-01-01T00:00:09Z',
      hash: 'file'
    });
    frames.run();
    await Promise.resolve();
    expect(get).not.toHaveBeenCalled();
    expect(context.updates).toEqual([]);
    expect(model.toJSON()).toEqual(before);
    expect(runs.activeRun(docContext)?.id).toBe('r1');

    socket.send({ ...events[7], seq: 9 });
    frames.run();
    expect(runs.activeRun(docContext)).toBeNull();
    expect(socket.readyState).toBe(3);
    runs.dispose();
    model.dispose();
  });

  it('still applies outputs when not collaborative, and its saves accept the writes', async () => {
    jest.spyOn(console, 'info').mockImplementation(() => undefined);
    const { model, context, runs, get, contents, disk } = setUp(false);
    const socket = FakeSocket.instances[0];
    socket.send(snapshot(0));
    frames.run();
    await new Promise(resolve => setTimeout(resolve, 0));
    // The snapshot does not carry the last write: the page notes the file's state.
    expect(get).toHaveBeenCalledTimes(1);
    socket.send({
      seq: 1,
      type: 'output',
      cell_id: 'c1',
      output: stdout('a\n')
    });
    // A hashless flush (the outputs went to a room this page is not in) is skipped.
    socket.send({ seq: 2, type: 'flushed', ...sharedFlush(1) });
    socket.send({
      seq: 3,
      type: 'flushed',
      upto: 2,
      last_modified: '2026-01-01T00:00:09Z',
      hash: 'file'
    });
    frames.run();
    expect(outputs(model, 'c1')).toEqual([stdout('from the snapshot\na\n')]);
    // No write is the context's as it comes: each would count as a save of its own
    // and restart JupyterLab's autosave timer, which would then never fire.
    expect(context.updates).toEqual([]);

    // A save finding either state on disk goes ahead: the check's answer is the
    // context's own state by the time the context compares them.
    const check = { content: false, hash: true };
    for (const state of ['stat', 'file']) {
      disk.hash = state;
      context.saveState.emit('started');
      const answer = await contents.get('nb.ipynb', check);
      expect(context.contentsModel.hash).toBe(answer.hash);
      context.saveState.emit('completed');
    }
    expect(context.updates.map(u => u.hash)).toEqual(['stat', 'file']);
    runs.dispose();
    model.dispose();
  });
});
