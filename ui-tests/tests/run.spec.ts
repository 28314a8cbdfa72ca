/**
 * Starting background runs from the notebook: the toolbar button, menus and errors;
 * outputs streaming into the open notebook; saving during a run.
 */

import { expect, test } from './fixtures';
import * as path from 'path';

import {
  activeRuns,
  cellAt,
  expectedLines,
  isDirty,
  openNotebook,
  printLines,
  promptOf,
  readNotebook,
  RUN_BUTTON,
  seedNotebook,
  shownLines,
  startPrintingRun,
  storedLines,
  storedSource,
  typeAtEnd,
  waitForActiveRun,
  waitForEnd,
  watchSaveConflicts
} from './notebook-utils';

/**
 * Set LAPD_DOC_IMAGES=1 to refresh the documentation's screenshots in docs/images.
 */
const DOC_IMAGES = process.env.LAPD_DOC_IMAGES
  ? path.resolve(__dirname, '..', '..', 'docs', 'images')
  : null;

test.describe('run in background', () => {
  test('the toolbar button streams outputs into the open notebook', async ({
    page,
    request,
    tmpPath
  }) => {
    const nb = `${tmpPath}/stream.ipynb`;
    await seedNotebook(request, nb, [
      { id: 'print', source: printLines(30) },
      { id: 'notes', source: '## Afterwards', cell_type: 'markdown' },
      { id: 'second', source: 'print("second")' },
      { id: 'third', source: '21 * 2' }
    ]);
    await openNotebook(page, nb);

    const button = page.locator(RUN_BUTTON);
    await expect(button).toHaveCount(1);
    await expect(button).toBeEnabled();
    if (DOC_IMAGES) {
      await button.hover();
      await page
        .locator('.jp-NotebookPanel-toolbar')
        .screenshot({ path: path.join(DOC_IMAGES, 'toolbar-button.png') });
      await page.menu.open('Run');
      await page
        .locator('.lm-Menu')
        .last()
        .screenshot({ path: path.join(DOC_IMAGES, 'run-menu.png') });
      await page.menu.closeAll();
    }
    await button.click();

    // Lines appear while the cell still runs: the prompt shows [*] and the later
    // cells are marked queued.
    await expect
      .poll(async () => (await shownLines(page, 0)).length, { timeout: 60000 })
      .toBeGreaterThanOrEqual(3);
    const run = await waitForActiveRun(request, nb);
    expect(await promptOf(page, 0)).toBe('[*]:');
    await expect(page.locator('.jp-Cell.jp-lapd-queued')).toHaveCount(2);
    await expect(
      cellAt(page, 2).locator('.jp-InputPrompt[data-lapd-label="queued"]')
    ).toHaveCount(1);
    const midway = await shownLines(page, 0);
    expect(midway.length).toBeLessThan(30);
    expect(midway).toEqual(expectedLines(midway.length));
    if (DOC_IMAGES) {
      await page
        .locator('.jp-NotebookPanel:not(.lm-mod-hidden)')
        .screenshot({ path: path.join(DOC_IMAGES, 'run-in-progress.png') });
    }

    const final = await waitForEnd(request, run.id);
    expect(final.status).toBe('completed');
    await expect.poll(() => shownLines(page, 0)).toEqual(expectedLines(30));
    await expect.poll(() => shownLines(page, 2)).toEqual(['second']);
    await expect.poll(() => shownLines(page, 3)).toEqual(['42']);
    await expect(page.locator('.jp-Cell.jp-lapd-queued')).toHaveCount(0);
    await expect.poll(() => promptOf(page, 3)).toMatch(/^\[\d+\]:$/);
    // The notebook shows what the file holds, so there is nothing to save (with
    // real-time collaboration, once the room has saved, as it saves any edit).
    await expect.poll(() => isDirty(page)).toBe(false);
    await expect
      .poll(async () => storedLines((await readNotebook(request, nb)).cells[0]))
      .toEqual(expectedLines(30));
  });

  test('saving during and after a run asks nothing and keeps every edit', async ({
    page,
    request,
    tmpPath
  }) => {
    const dialogs = watchSaveConflicts(page);
    const nb = `${tmpPath}/save.ipynb`;
    const runId = await startPrintingRun(page, request, nb);
    await expect
      .poll(async () => (await shownLines(page, 0)).length, { timeout: 60000 })
      .toBeGreaterThanOrEqual(2);

    // The user edits another cell and saves, several times, while the run writes.
    for (let i = 0; i < 4; i++) {
      const shown = (await shownLines(page, 0)).length;
      await typeAtEnd(page, 1, ` + ${i}`);
      await page.keyboard.press('Control+s');
      await expect
        .poll(async () =>
          storedSource((await readNotebook(request, nb)).cells[1])
        )
        .toContain(` + ${i}`);
      await expect(page.locator('.jp-Dialog')).toHaveCount(0);
      // Let the run write the file again before the next save.
      await expect
        .poll(async () => (await shownLines(page, 0)).length)
        .toBeGreaterThan(shown);
    }

    expect((await waitForEnd(request, runId)).status).toBe('completed');
    await expect.poll(() => shownLines(page, 0)).toEqual(expectedLines(30));
    await typeAtEnd(page, 1, ' + 10');
    await page.keyboard.press('Control+s');
    await expect
      .poll(async () =>
        storedSource((await readNotebook(request, nb)).cells[1])
      )
      .toBe('x = 1 + 0 + 1 + 2 + 3 + 10');
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    expect(dialogs).toEqual([]);
    expect(await isDirty(page)).toBe(false);

    // The file is whole: every line of the run, and the user's edit.
    const file = await readNotebook(request, nb);
    expect(storedLines(file.cells[0])).toEqual(expectedLines(30));
    expect(file.cells[0].execution_count).toEqual(expect.any(Number));
    expect(storedSource(file.cells[1])).toBe('x = 1 + 0 + 1 + 2 + 3 + 10');
  });

  test('the cell context menu runs the selected cells, and the Run menu cancels', async ({
    page,
    request,
    tmpPath
  }) => {
    const nb = `${tmpPath}/menus.ipynb`;
    await seedNotebook(request, nb, [
      { id: 'first', source: 'print("not this one")' },
      { id: 'slow', source: printLines(100, 0.3) },
      { id: 'after', source: 'print("nor this one")' }
    ]);
    await openNotebook(page, nb);

    await cellAt(page, 1).locator('.jp-InputPrompt').click();
    await cellAt(page, 1).locator('.jp-InputPrompt').click({ button: 'right' });
    await page
      .locator('.lm-Menu-item[data-command="lapd:run-selected-in-background"]')
      .click();
    await expect
      .poll(async () => (await shownLines(page, 1)).length, { timeout: 60000 })
      .toBeGreaterThanOrEqual(2);
    const run = await waitForActiveRun(request, nb);

    await page.menu.clickMenuItem('Run>Cancel Background Run');
    expect((await waitForEnd(request, run.id)).status).toBe('cancelled');
    await expect.poll(() => promptOf(page, 1)).not.toBe('[*]:');
    expect(await shownLines(page, 0)).toEqual([]);
    expect(await shownLines(page, 2)).toEqual([]);
    expect(await activeRuns(request, nb)).toEqual([]);
  });

  test("a second run, from the shortcut, shows the server's refusal", async ({
    page,
    request,
    tmpPath,
    dialogs
  }) => {
    const nb = `${tmpPath}/busy.ipynb`;
    await seedNotebook(request, nb, [
      { id: 'slow', source: printLines(100, 0.3) }
    ]);
    await openNotebook(page, nb);
    await page.locator(RUN_BUTTON).click();
    const run = await waitForActiveRun(request, nb);

    // This time through the keyboard shortcut, from the notebook in command mode.
    await cellAt(page, 0).locator('.jp-InputPrompt').click();
    await page.keyboard.press('Control+Shift+Enter');
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText(
      'Cannot run busy.ipynb in the background'
    );
    await expect(dialog).toContainText('already');
    await dialog.getByRole('button', { name: 'Close' }).click();
    // the one dialog expected
    expect(dialogs.splice(0)).toEqual([
      expect.stringContaining('Cannot run busy.ipynb in the background')
    ]);

    await request.post(`/lapd/api/runs/${run.id}/cancel`);
    expect((await waitForEnd(request, run.id)).status).toBe('cancelled');
  });
});
