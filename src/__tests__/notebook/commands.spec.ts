/**
 * Unit tests of the cells each run command picks.
 */

import { ICellChoiceInput, pickCells } from '../../notebook/commands';

const CELLS: ICellChoiceInput[] = [
  { id: 'c1', type: 'code', selected: false },
  { id: 'm1', type: 'markdown', selected: true },
  { id: 'c2', type: 'code', selected: true },
  { id: 'r1', type: 'raw', selected: false },
  { id: 'c3', type: 'code', selected: true },
  { id: 'c4', type: 'code', selected: false }
];

describe('pickCells', () => {
  it('runs every code cell for "all"', () => {
    expect(pickCells(CELLS, 2, 'all')).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('runs the selected code cells, in notebook order', () => {
    expect(pickCells(CELLS, 4, 'selected')).toEqual(['c2', 'c3']);
  });

  it('runs the active cell and every code cell below it', () => {
    expect(pickCells(CELLS, 1, 'below')).toEqual(['c2', 'c3', 'c4']);
    expect(pickCells(CELLS, 5, 'below')).toEqual(['c4']);
  });

  it('runs nothing when there is no code cell to run', () => {
    expect(pickCells(CELLS.slice(1, 2), 0, 'all')).toEqual([]);
  });
});
