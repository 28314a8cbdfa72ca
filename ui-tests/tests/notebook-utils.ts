/**
 * Helpers of the notebook-side specs (run, reattach, collab): seed notebooks and read
 * them back through the contents API, follow runs through the REST API, read what a
 * cell shows.
 */

import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { APIRequestContext, Locator } from '@playwright/test';

/**
 * The toolbar button of lapd:run-all-in-background, as the schema declares it.
 */
export const RUN_BUTTON =
  '.jp-NotebookPanel-toolbar [data-command="lapd:run-all-in-background"]';

/**
 * A cell printing `line 0` ... `line <count - 1>`, one every `interval` seconds.
 */
export function printLines(count: number, interval = 0.2): string {
  return [
    'import time',
    `for i in range(${count}):`,
    '    print(f"line {i}", flush=True)',
    `    time.sleep(${interval})`
  ].join('\n');
}

/**
 * The lines `line 0` ... `line <count - 1>`, each once, in order.
 */
export function expectedLines(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `line ${i}`);
}

export interface ISeedCell {
  id: string;
  source: string;
  cell_type?: 'code' | 'markdown';
}

/**
 * Write a notebook (nbformat 4.5, with the given cell ids) through the contents API.
 */
export async function seedNotebook(
  request: APIRequestContext,
  path: string,
  cells: ISeedCell[]
): Promise<void> {
  const content = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3 (ipykernel)',
        language: 'python'
      },
      language_info: { name: 'python' }
    },
    cells: cells.map(({ id, source, cell_type = 'code' }) =>
      cell_type === 'code'
        ? {
            id,
            cell_type,
            source,
            metadata: {},
            outputs: [],
            execution_count: null
          }
        : { id, cell_type, source, metadata: {} }
    )
  };
  const response = await request.put(`/api/contents/${encodePath(path)}`, {
    data: { type: 'notebook', format: 'json', content }
  });
  expect(response.status(), await response.text()).toBeLessThan(300);
}

export interface IStoredCell {
  id: string;
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: { output_type: string; name?: string; text?: string | string[] }[];
}

/**
 * The notebook as the file on disk holds it, read through the contents API as text.
 *
 * A collaborative room saves through the server's contents manager, which copies the
 * file to `.~<name>` and rewrites it in place (as every save from JupyterLab does). A
 * read in the middle of such a save finds it cut short, and is made again. It is read as
 * a file, not as a notebook: Jupyter Server answers a notebook read that cannot parse the
 * file by moving the file aside (`<name>.invalid`) and putting the `.~<name>` copy in its
 * place, which, while the save is still writing, loses the file or the save.
 */
export async function readNotebook(
  request: APIRequestContext,
  path: string
): Promise<{ cells: IStoredCell[] }> {
  for (let attempt = 0; ; attempt++) {
    const response = await request.get(
      `/api/contents/${encodePath(path)}?content=1&type=file&format=text`
    );
    const text = await response.text();
    expect(response.status(), text).toBe(200);
    let notebook: { cells: IStoredCell[] } | null = null;
    try {
      notebook = JSON.parse(JSON.parse(text).content);
    } catch {
      // cut short by a save under way
    }
    if (notebook !== null) {
      return notebook;
    }
    expect(attempt, text).toBeLessThan(20);
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

/**
 * The text lines a stored cell's stream outputs hold.
 */
export function storedLines(cell: IStoredCell): string[] {
  const text = (cell.outputs ?? [])
    .filter(output => output.output_type === 'stream')
    .map(output =>
      Array.isArray(output.text) ? output.text.join('') : (output.text ?? '')
    )
    .join('');
  return text.split('\n').filter(line => line !== '');
}

/**
 * Wait until the file holds more than `count` lines in the cell at `index` (a run goes on
 * while nobody watches), and answer how many it holds then.
 */
export async function waitForStoredLines(
  request: APIRequestContext,
  path: string,
  index: number,
  count: number
): Promise<number> {
  const stored = async () =>
    storedLines((await readNotebook(request, path)).cells[index]).length;
  await expect.poll(stored, { timeout: 30000 }).toBeGreaterThan(count);
  return stored();
}

/**
 * The source of a stored cell, as one string.
 */
export function storedSource(cell: IStoredCell): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

export interface IRunRecord {
  id: string;
  path: string;
  status: string;
  error: string | null;
}

/**
 * The runs of a notebook, newest first; only those of the given statuses
 * (comma-separated) if `status` is given.
 */
export async function runsOf(
  request: APIRequestContext,
  path: string,
  status?: string
): Promise<IRunRecord[]> {
  const filter = status === undefined ? '' : `&status=${status}`;
  const response = await request.get(
    `/lapd/api/runs?path=${encodeURIComponent(path)}${filter}`
  );
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()).runs;
}

/**
 * The active (queued or running) runs of a notebook, newest first.
 */
export async function activeRuns(
  request: APIRequestContext,
  path: string
): Promise<IRunRecord[]> {
  return runsOf(request, path, 'queued,running');
}

/**
 * Wait for the notebook's run to be listed as active, and answer it.
 */
export async function waitForActiveRun(
  request: APIRequestContext,
  path: string
): Promise<IRunRecord> {
  await expect
    .poll(async () => (await activeRuns(request, path)).length)
    .toBe(1);
  return (await activeRuns(request, path))[0];
}

/**
 * Wait until a run has ended, and answer its final record.
 */
export async function waitForEnd(
  request: APIRequestContext,
  id: string,
  timeout = 120000
): Promise<IRunRecord> {
  let run: IRunRecord | null = null;
  await expect
    .poll(
      async () => {
        const response = await request.get(`/lapd/api/runs/${id}`);
        run = (await response.json()) as IRunRecord;
        return run.status;
      },
      { timeout }
    )
    .not.toMatch(/^(queued|running)$/);
  return run!;
}

/**
 * The cell at `index` in the visible notebook.
 */
export function cellAt(page: IJupyterLabPageFixture, index: number): Locator {
  return page
    .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')
    .nth(index);
}

/**
 * The text lines a cell's outputs show.
 */
export async function shownLines(
  page: IJupyterLabPageFixture,
  index: number
): Promise<string[]> {
  // Cells out of view may not be rendered (notebook windowing): bring it in.
  const cell = cellAt(page, index);
  await cell.scrollIntoViewIfNeeded();
  const texts = await cell.locator('.jp-OutputArea-output').allTextContents();
  return texts
    .join('\n')
    .split('\n')
    .filter(line => line !== '');
}

/**
 * The text of a cell's input prompt, e.g. `[*]:` or `[3]:`.
 */
export async function promptOf(
  page: IJupyterLabPageFixture,
  index: number
): Promise<string> {
  return (
    await cellAt(page, index).locator('.jp-InputPrompt').innerText()
  ).trim();
}

/**
 * Open a notebook and wait until it is ready to work with (see `waitForNotebookReady`).
 */
export async function openNotebook(
  page: IJupyterLabPageFixture,
  path: string
): Promise<void> {
  expect(await page.notebook.openByPath(path)).toBe(true);
  await waitForNotebookReady(page);
}

/**
 * Wait until the notebook in front has its kernel's answer and, when it is a
 * collaborative document (jupyter-collaboration), is synced with its room; for a
 * notebook opened otherwise than through JupyterLab's file browser too, e.g. in
 * Jupyter Notebook 7.
 */
export async function waitForNotebookReady(
  page: IJupyterLabPageFixture
): Promise<void> {
  await expect
    .poll(
      () =>
        page.evaluate(() => {
          const widget = (window as any).jupyterapp.shell.currentWidget;
          const model = widget?.context?.model;
          if (model?.collaborative === true && !(model.cells?.length > 0)) {
            return false;
          }
          // JupyterLab writes the kernel's language_info into the notebook once the
          // kernel answers; that change is the user's to save, and must not race the
          // test.
          const info = widget?.model?.getMetadata('language_info');
          return (info?.version ?? null) !== null;
        }),
      { timeout: 60000 }
    )
    .toBe(true);
}

/**
 * Whether the visible notebook's tab shows unsaved changes.
 */
export async function isDirty(page: IJupyterLabPageFixture): Promise<boolean> {
  const tab = page.locator(
    '.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current'
  );
  return (await tab.getAttribute('class'))?.includes('jp-mod-dirty') ?? false;
}

/** A contents API path: each segment URL-encoded. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/**
 * Console warnings of JupyterLab's check before a save finding a file it did not
 * expect (it then asks "File Changed"), collected from now on.
 */
export function watchSaveConflicts(page: IJupyterLabPageFixture): string[] {
  const conflicts: string[] = [];
  page.on('console', message => {
    if (message.text().includes('Different hash found')) {
      conflicts.push(message.text());
    }
  });
  return conflicts;
}

/**
 * Seed a notebook whose first cell prints (by default 30 lines over 6 s: `source`) and
 * whose second is `x = 1`, open it and run it in the background; resolves to the run's
 * id.
 */
export async function startPrintingRun(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string,
  source = printLines(30)
): Promise<string> {
  await seedNotebook(request, nb, [
    { id: 'print', source },
    { id: 'mine', source: 'x = 1' }
  ]);
  await openNotebook(page, nb);
  await page.locator(RUN_BUTTON).click();
  return (await waitForActiveRun(request, nb)).id;
}

/**
 * The source of the `index`th cell as its editor shows it.
 */
export async function editorText(
  page: IJupyterLabPageFixture,
  index: number
): Promise<string> {
  // (innerText would be empty for a cell that notebook windowing leaves unpainted)
  const lines = await cellAt(page, index).locator('.cm-line').allTextContents();
  return lines.join('\n');
}

/**
 * Type at the end of a cell's source, as a user clicking into it.
 */
export async function typeAtEnd(
  page: IJupyterLabPageFixture,
  index: number,
  text: string
): Promise<void> {
  await cellAt(page, index).locator('.cm-content').click();
  await page.keyboard.press('End');
  // One edit, as a paste: JupyterLab marks the document clean when a save ends, so
  // keys typed while an autosave was under way would stay unsaved until the next edit.
  await page.keyboard.insertText(text);
}
