import { ICellModel, ICodeCellModel } from '@jupyterlab/cells';
import type * as nbformat from '@jupyterlab/nbformat';
import { INotebookModel } from '@jupyterlab/notebook';
import { IOutputModel } from '@jupyterlab/rendermime';
import { JSONExt } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';

import {
  ExecutionTiming,
  ICellEndEvent,
  IOutputEvent,
  ISnapshotEvent,
  IUpdateDisplayEvent
} from '../api/runevents';

/**
 * A run's changes to the cells of one notebook model, found by cell id, made as
 * JupyterLab's CodeCell makes a kernel's: `[*]` while a cell runs, outputs merged as
 * they arrive, display updates applied to every output showing the display id.
 *
 * It only changes cells; in which order, and whether the change counts as the user's,
 * is `NotebookRunModel`'s to decide.
 */
export class RunCells implements IDisposable {
  constructor(model: INotebookModel) {
    this._model = model;
    this._model.cells.changed.connect(this._onCellsChanged, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * What CodeCell.execute does when JupyterLab runs a cell itself.
   */
  start(cellId: string): void {
    const cell = this._codeCell(cellId);
    this._forgetDisplays(cellId);
    if (cell === null) {
      return;
    }
    cell.sharedModel.transact(() => {
      cell.clearExecution();
    }, false);
    cell.executionState = 'running';
    cell.trusted = true;
    this._running.add(cellId);
  }

  addOutput(event: IOutputEvent): void {
    const cell = this._codeCell(event.cell_id);
    if (cell === null) {
      return;
    }
    // add() merges a stream fragment into the previous output of the same stream,
    // and honours a pending clear_output(wait=True), exactly as for a kernel message.
    const length = cell.outputs.add(event.output);
    if (event.display_id) {
      this._remember(
        event.display_id,
        event.cell_id,
        cell.outputs.get(length - 1)
      );
    }
  }

  clearOutput(cellId: string, wait: boolean): void {
    const cell = this._codeCell(cellId);
    if (cell === null) {
      return;
    }
    cell.outputs.clear(wait);
    if (!wait) {
      this._forgetDisplays(cellId);
    }
  }

  updateDisplay(event: IUpdateDisplayEvent): void {
    const shown = this._displays.get(event.display_id);
    if (shown === undefined) {
      return;
    }
    for (const entry of [...shown]) {
      const cell = this._codeCell(entry.cellId);
      const index = cell === null ? -1 : indexOf(cell, entry.output);
      if (cell === null || index < 0) {
        // Cleared, or the cell was deleted: nothing shows that output anymore.
        shown.delete(entry);
        continue;
      }
      const old = entry.output.toJSON();
      cell.outputs.set(index, {
        ...old,
        data: event.output.data,
        metadata: event.output.metadata
      } as nbformat.IOutput);
      entry.output = cell.outputs.get(index);
    }
    if (shown.size === 0) {
      this._displays.delete(event.display_id);
    }
  }

  end(event: ICellEndEvent): void {
    this._running.delete(event.cell_id);
    const cell = this._codeCell(event.cell_id);
    if (cell === null) {
      return;
    }
    cell.executionCount = event.execution_count;
    this._setTiming(cell, event.execution);
    cell.executionState = 'idle';
  }

  /**
   * The run ended: a cell stopped without a cell_end (the server stopped) loses its
   * `[*]`.
   */
  stopRunning(): void {
    for (const cellId of this._running) {
      const cell = this._codeCell(cellId);
      if (cell !== null) {
        cell.executionState = 'idle';
      }
    }
    this._running.clear();
  }

  /**
   * Make the run's cells show what the server holds, whatever the file loaded showed:
   * the outputs of the cells the snapshot carries (a catch-up carries only those it
   * stands for: the others are as the events left them), every cell's state.
   */
  restore(snapshot: ISnapshotEvent): void {
    const outputs = snapshot.outputs ?? {};
    for (const cellId of Object.keys(outputs)) {
      const cell = this._codeCell(cellId);
      if (cell === null) {
        continue;
      }
      this._forgetDisplays(cellId);
      const current = cell.outputs.toJSON() as unknown as nbformat.IOutput[];
      if (!JSONExt.deepEqual(current, outputs[cellId])) {
        cell.trusted = true;
        cell.outputs.clear();
        for (const output of outputs[cellId]) {
          cell.outputs.add(output);
        }
      }
      if (snapshot.clear_pending?.includes(cellId)) {
        cell.outputs.clear(true);
      }
    }
    for (const [displayId, where] of Object.entries(snapshot.displays ?? {})) {
      for (const [cellId, indices] of Object.entries(where)) {
        const cell = this._codeCell(cellId);
        for (const index of indices) {
          if (cell !== null && index < cell.outputs.length) {
            this._remember(displayId, cellId, cell.outputs.get(index));
          }
        }
      }
    }
    for (const state of snapshot.run.cells ?? []) {
      const cell = this._codeCell(state.id);
      if (cell === null) {
        continue;
      }
      if (state.status === 'running') {
        cell.executionCount = null;
        cell.executionState = 'running';
        this._running.add(state.id);
      } else if (state.status === 'done' || state.status === 'error') {
        this._running.delete(state.id);
        cell.executionCount = state.execution_count;
        cell.executionState = 'idle';
        const timing = snapshot.execution?.[state.id];
        if (timing !== undefined) {
          this._setTiming(cell, timing);
        }
      }
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    // A closed notebook's model goes first: its cells are gone, and so are their
    // connections.
    if (!this._model.isDisposed) {
      this._model.cells.changed.disconnect(this._onCellsChanged, this);
    }
    this._displays.clear();
  }

  private _setTiming(cell: ICodeCellModel, timing: ExecutionTiming): void {
    if (Object.keys(timing).length > 0) {
      cell.setMetadata('execution', timing);
    } else {
      cell.deleteMetadata('execution');
    }
  }

  private _remember(displayId: string, cellId: string, output: IOutputModel) {
    let shown = this._displays.get(displayId);
    if (shown === undefined) {
      shown = new Set();
      this._displays.set(displayId, shown);
    }
    shown.add({ cellId, output });
  }

  private _forgetDisplays(cellId: string): void {
    this._displays.forEach((shown, displayId) => {
      shown.forEach(entry => {
        if (entry.cellId === cellId) {
          shown.delete(entry);
        }
      });
      if (shown.size === 0) {
        this._displays.delete(displayId);
      }
    });
  }

  private _codeCell(cellId: string): ICodeCellModel | null {
    if (this._cellsById === null) {
      this._cellsById = new Map();
      for (const cell of this._model.cells) {
        this._cellsById.set(cell.id, cell);
      }
    }
    const cell = this._cellsById.get(cellId);
    return cell !== undefined && isCodeCell(cell) ? cell : null;
  }

  private _onCellsChanged(): void {
    this._cellsById = null;
  }

  private _model: INotebookModel;
  private _running = new Set<string>();
  private _displays = new Map<string, Set<IDisplayEntry>>();
  private _cellsById: Map<string, ICellModel> | null = null;
  private _isDisposed = false;
}

/**
 * An output showing a display id.
 */
interface IDisplayEntry {
  cellId: string;
  output: IOutputModel;
}

function isCodeCell(cell: ICellModel): cell is ICodeCellModel {
  return cell.type === 'code';
}

function indexOf(cell: ICodeCellModel, output: IOutputModel): number {
  for (let i = 0; i < cell.outputs.length; i++) {
    if (cell.outputs.get(i) === output) {
      return i;
    }
  }
  return -1;
}
