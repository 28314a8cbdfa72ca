/**
 * Saving while a run writes, every way a user saves: no dialog of any kind, and the file
 * ends with every output of the run and every edit. Each test runs with real-time
 * collaboration off (playwright.config.js) and on (playwright.collab.config.js): a run
 * must be as invisible to the save path as a collaborator who only appends outputs.
 */

import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';

import {
  expectedLines,
  isDirty,
  openNotebook,
  printLines,
  readNotebook,
  RUN_BUTTON,
  seedNotebook,
  shownLines,
  storedLines,
  storedSource,
  typeAtEnd,
  waitForActiveRun,
  waitForEnd,
  waitForNotebookReady
} from './notebook-utils';
import { dismissConnectionLost, expect, test } from './fixtures';

/** The lines the run prints, one every quarter second: long enough for page reloads. */
const LINES = 80;

/**
 * Seed a notebook whose first cell prints `LINES` lines and whose second is `x = 1`,
 * open it and run it in the background; resolves to the run's id.
 */
async function startPrintingRun(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string
): Promise<string> {
  await seedNotebook(request, nb, [
    { id: 'print', source: printLines(LINES, 0.25) },
    { id: 'mine', source: 'x = 1' }
  ]);
  await openNotebook(page, nb);
  await page.locator(RUN_BUTTON).click();
  return (await waitForActiveRun(request, nb)).id;
}

/**
 * Wait until the page shows more of the run's output than `count` lines.
 */
async function moreLines(
  page: IJupyterLabPageFixture,
  count: number
): Promise<number> {
  await expect
    .poll(async () => (await shownLines(page, 0)).length, { timeout: 60000 })
    .toBeGreaterThan(count);
  return (await shownLines(page, 0)).length;
}

/**
 * The second cell's source in the file, once it contains `text`.
 */
async function waitForSaved(
  request: APIRequestContext,
  nb: string,
  text: string
): Promise<void> {
  await expect
    .poll(
      async () => storedSource((await readNotebook(request, nb)).cells[1]),
      { timeout: 30000 }
    )
    .toContain(text);
}

/**
 * Type `text` into the second cell and save with Ctrl+S; resolves once it is on disk.
 */
async function editAndSave(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string,
  text: string
): Promise<void> {
  await typeAtEnd(page, 1, text);
  await page.keyboard.press('Control+s');
  await waitForSaved(request, nb, text);
}

/**
 * Once the run has ended: the page shows every line, the file holds every line and
 * `source` in the second cell, and the page has nothing unsaved.
 */
async function expectWhole(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string,
  source: string
): Promise<void> {
  await expect.poll(() => shownLines(page, 0)).toEqual(expectedLines(LINES));
  await expect
    .poll(
      async () => {
        const file = await readNotebook(request, nb);
        return {
          lines: storedLines(file.cells[0]),
          source: storedSource(file.cells[1]),
          counted: file.cells[0].execution_count !== null
        };
      },
      { timeout: 30000 }
    )
    .toEqual({ lines: expectedLines(LINES), source, counted: true });
  await expect.poll(() => isDirty(page)).toBe(false);
}

test.describe('saving during a run', () => {
  test('closing and reopening the notebook mid-run, then saving, asks nothing', async ({
    page,
    request,
    tmpPath
  }) => {
    const nb = `${tmpPath}/reopen.ipynb`;
    const runId = await startPrintingRun(page, request, nb);
    let shown = await moreLines(page, 2);

    // Closed (as a user closes a tab: any question would be a dialog) and opened
    // again, then saved at once.
    const name = nb.split('/').pop()!;
    const tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', {
      hasText: name
    });
    await tab.locator('.lm-TabBar-tabCloseIcon').click();
    await expect(tab).toHaveCount(0);
    await openNotebook(page, nb);
    await editAndSave(page, request, nb, ' + 1');
    shown = await moreLines(page, shown);

    // The whole page reloaded, then saved at once.
    // JupyterLab restores the notebook's tab (galata's default wait is for the
    // Launcher, which the restored layout hides).
    // (galata's reload takes waitForIsReady; Playwright's types do not know it)
    await page.reload({ waitForIsReady: false } as Parameters<
      typeof page.reload
    >[0]);
    await expect(page.locator('#jupyterlab-splash')).toHaveCount(0);
    await expect(tab).toHaveCount(1);
    await tab.click();
    await waitForNotebookReady(page);
    await editAndSave(page, request, nb, ' + 2');
    await moreLines(page, shown);

    expect((await waitForEnd(request, runId)).status).toBe('completed');
    await editAndSave(page, request, nb, ' + 3');
    await expectWhole(page, request, nb, 'x = 1 + 1 + 2 + 3');
    // Closed once more: nothing left unsaved to ask about.
    await tab.locator('.lm-TabBar-tabCloseIcon').click();
    await expect(tab).toHaveCount(0);
  });

  test('saving after the page went offline and came back asks nothing, mid-run and after', async ({
    page,
    request,
    tmpPath,
    dialogs
  }) => {
    const nb = `${tmpPath}/offline.ipynb`;
    const runId = await startPrintingRun(page, request, nb);
    const shown = await moreLines(page, 2);

    await page.context().setOffline(true);
    await page.waitForTimeout(2000);
    await page.context().setOffline(false);
    await moreLines(page, shown);
    await dismissConnectionLost(page, dialogs);
    await editAndSave(page, request, nb, ' + 1');

    expect((await waitForEnd(request, runId)).status).toBe('completed');
    await expect.poll(() => shownLines(page, 0)).toEqual(expectedLines(LINES));
    await page.context().setOffline(true);
    await page.waitForTimeout(2000);
    await page.context().setOffline(false);
    // back online: JupyterLab's polls answer again
    await expect
      .poll(() =>
        page.evaluate(async () => {
          const sessions = (window as any).jupyterapp.serviceManager.sessions;
          try {
            await sessions.refreshRunning();
            return true;
          } catch {
            return false;
          }
        })
      )
      .toBe(true);
    await dismissConnectionLost(page, dialogs);
    await editAndSave(page, request, nb, ' + 2');
    await expectWhole(page, request, nb, 'x = 1 + 1 + 2');
  });

  test.describe('with autosave every second', () => {
    test.use({
      mockSettings: async (
        { mockSettings }: { mockSettings: Record<string, unknown> },
        use: (settings: Record<string, unknown>) => Promise<void>
      ) => {
        await use({
          ...mockSettings,
          '@jupyterlab/docmanager-extension:plugin': {
            autosave: true,
            autosaveInterval: 1
          }
        });
      }
    } as any);

    test('autosave during a run asks nothing and keeps every edit', async ({
      page,
      request,
      tmpPath,
      rtc
    }) => {
      // Known failure (#20): with real-time collaboration off, JupyterLab's autosave
      // during a run sometimes meets a File Changed dialog.
      test.fixme(
        !rtc,
        'autosave during a run can ask File Changed without RTC'
      );
      const nb = `${tmpPath}/autosave.ipynb`;
      const runId = await startPrintingRun(page, request, nb);
      let shown = await moreLines(page, 2);
      for (let i = 1; i <= 3; i++) {
        await typeAtEnd(page, 1, ` + ${i}`);
        if (!rtc) {
          // With real-time collaboration the room saves once the document has been
          // quiet for a while: while outputs stream, at the end (as during a Run All).
          await waitForSaved(request, nb, ` + ${i}`);
        }
        shown = await moreLines(page, shown);
      }
      expect((await waitForEnd(request, runId)).status).toBe('completed');
      await typeAtEnd(page, 1, ' + 4');
      await waitForSaved(request, nb, ' + 4');
      await expectWhole(page, request, nb, 'x = 1 + 1 + 2 + 3 + 4');
    });
  });

  test('two browsers saving while the run writes ask nothing', async ({
    page,
    request,
    tmpPath,
    collaborator,
    rtc
  }) => {
    // Without real-time collaboration, a save from one browser is a change on disk
    // the other did not make: JupyterLab rightly asks there, run or no run.
    test.skip(!rtc, 'two editors of one file need real-time collaboration');
    const nb = `${tmpPath}/two.ipynb`;
    const runId = await startPrintingRun(page, request, nb);
    const bob = await collaborator('Bob');
    await openNotebook(bob, nb);
    let shown = await moreLines(page, 2);
    for (let i = 1; i <= 4; i++) {
      const saver = i % 2 ? page : bob;
      await editAndSave(saver, request, nb, ` + ${i}`);
      shown = await moreLines(page, shown);
    }
    expect((await waitForEnd(request, runId)).status).toBe('completed');
    await editAndSave(bob, request, nb, ' + 5');
    await expectWhole(page, request, nb, 'x = 1 + 1 + 2 + 3 + 4 + 5');
    await expectWhole(bob, request, nb, 'x = 1 + 1 + 2 + 3 + 4 + 5');
  });
});
