/**
 * Saving while a run writes, every way a user saves: no dialog of any kind, and the file
 * ends with every output of the run and every edit. Each test runs with real-time
 * collaboration off (playwright.config.js) and on (playwright.collab.config.js): a run
 * must be as invisible to the save path as a collaborator who only appends outputs.
 */

import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';

import {
  editorText,
  encodePath,
  expectedLines,
  isDirty,
  openNotebook,
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

/**
 * Seed a notebook whose first cell prints `line 0`, `line 1`, ... every quarter second
 * until the test ends it (`endRun`), and whose second is `x = 1`; open it and run it in
 * the background. Resolves to the run's id. The run lasts as long as the test needs
 * it, however slow the machine.
 */
async function startPrintingRun(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string
): Promise<string> {
  await seedNotebook(request, nb, [
    {
      id: 'print',
      source: [
        'import os, time',
        'i = 0',
        `while not os.path.exists(${JSON.stringify(stopFile(nb))}) and i < 4000:`,
        '    print(f"line {i}", flush=True)',
        '    i += 1',
        '    time.sleep(0.25)'
      ].join('\n')
    },
    { id: 'mine', source: 'x = 1' }
  ]);
  await openNotebook(page, nb);
  await page.locator(RUN_BUTTON).click();
  return (await waitForActiveRun(request, nb)).id;
}

/** The file whose appearance beside the notebook ends its printing cell. */
function stopFile(nb: string): string {
  return `${nb.split('/').pop()}.stop`;
}

/**
 * End the printing run (by creating its stop file) and wait until it has completed.
 */
async function endRun(
  request: APIRequestContext,
  nb: string,
  runId: string
): Promise<void> {
  const folder = nb.split('/').slice(0, -1).join('/');
  const response = await request.put(
    `/api/contents/${encodePath(`${folder}/${stopFile(nb)}`)}`,
    { data: { type: 'file', format: 'text', content: '' } }
  );
  expect(response.ok(), await response.text()).toBe(true);
  expect((await waitForEnd(request, runId)).status).toBe('completed');
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
 * Once the run has ended: the file holds `line 0` ... `line <n - 1>`, each once and in
 * order, and `source` in the second cell; the page shows the same lines and has nothing
 * unsaved.
 */
async function expectWhole(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string,
  source: string
): Promise<void> {
  let lines: string[] = [];
  await expect
    .poll(
      async () => {
        const file = await readNotebook(request, nb);
        lines = storedLines(file.cells[0]);
        return {
          whole:
            lines.length > 0 && isEqual(lines, expectedLines(lines.length)),
          source: storedSource(file.cells[1]),
          counted: file.cells[0].execution_count !== null
        };
      },
      { timeout: 30000 }
    )
    .toEqual({ whole: true, source, counted: true });
  await expect.poll(() => shownLines(page, 0)).toEqual(lines);
  await expect.poll(() => isDirty(page)).toBe(false);
}

function isEqual(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
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

    await endRun(request, nb, runId);
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

    await endRun(request, nb, runId);
    // the page shows every line the file holds (with real-time collaboration the room
    // saves the last ones a moment after the run ended: both are polled)
    await expect
      .poll(async () => {
        const file = storedLines((await readNotebook(request, nb)).cells[0]);
        const shown = await shownLines(page, 0);
        return file.length > 0 && isEqual(shown, file);
      })
      .toBe(true);
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
      await endRun(request, nb, runId);
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
    // Each edits the end of what the other saved: typed before the other's edit has
    // arrived, the two edits would be concurrent, in an order of the CRDT's choosing.
    let source = 'x = 1';
    const editAfterOther = async (
      saver: IJupyterLabPageFixture,
      text: string
    ) => {
      await expect.poll(() => editorText(saver, 1)).toBe(source);
      await editAndSave(saver, request, nb, text);
      source += text;
    };
    for (let i = 1; i <= 4; i++) {
      await editAfterOther(i % 2 ? page : bob, ` + ${i}`);
      shown = await moreLines(page, shown);
    }
    await endRun(request, nb, runId);
    await editAfterOther(bob, ' + 5');
    await expectWhole(page, request, nb, 'x = 1 + 1 + 2 + 3 + 4 + 5');
    await expectWhole(bob, request, nb, 'x = 1 + 1 + 2 + 3 + 4 + 5');
  });
});
