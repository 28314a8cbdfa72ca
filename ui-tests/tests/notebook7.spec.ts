/**
 * The runs plugins in Jupyter Notebook 7 (`jupyter notebook`), run by
 * playwright.notebook.config.js against a server of its own.
 *
 * Notebook 7 has a left area (hidden until a panel is shown) in its tree and notebook
 * views, notifications and a command palette, but no status bar and no layout
 * restorer: the panel and the notifications work, the status bar item stays away.
 * In the notebook view, the toolbar button and the commands run and cancel, and a
 * notebook reopened mid-run reattaches to its run.
 */

import { expect, test } from './fixtures';
import type { ConsoleMessage, Page } from '@playwright/test';

import {
  activeRuns,
  cellAt,
  expectedLines,
  printLines,
  promptOf,
  readNotebook,
  RUN_BUTTON,
  runsOf,
  shownLines,
  storedLines,
  storedSource,
  typeAtEnd,
  waitForActiveRun,
  waitForEnd,
  waitForNotebookReady,
  waitForStoredLines,
  watchSaveConflicts
} from './notebook-utils';
import {
  cancelActiveRuns,
  execute,
  getRun,
  seedNotebook,
  startRun,
  waitForStatus
} from './runs-utils';

test.use({
  // Notebook 7 has no splash screen; its main panel shows once the app is ready.
  waitForApplication: async ({ baseURL }, use) => {
    await use(async (page: Page) => {
      await page.waitForSelector('#main-panel');
    });
  }
});

test.afterEach(async ({ request, tmpPath }) => {
  await cancelActiveRuns(request, tmpPath);
});

/**
 * Collect console errors and warnings from the page's first load on.
 */
function watchConsole(page: Page): string[] {
  const messages: string[] = [];
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      messages.push(`${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', error => messages.push(`pageerror: ${error.message}`));
  return messages;
}

const ours = (messages: string[]): string[] =>
  messages.filter(text => /lapd/i.test(text));

/**
 * Whether a command of the application is enabled, as its menu item or button shows.
 */
async function isEnabled(page: Page, command: string): Promise<boolean> {
  return page.evaluate(
    id => (window as any).jupyterapp.commands.isEnabled(id),
    command
  );
}

test.describe('tree view', () => {
  test.use({ autoGoto: false });

  test('the runs plugins load and the panel opens in the left area', async ({
    page,
    tmpPath
  }) => {
    const messages = watchConsole(page);
    const logs: string[] = [];
    page.on('console', message => logs.push(message.text()));
    await page.goto(`tree/${tmpPath}`);

    const plugins = await page.evaluate(() => {
      const app = (window as any).jupyterapp;
      return [
        'jupyter-lapd:runs-model',
        'jupyter-lapd:runs-panel',
        'jupyter-lapd:runs-status',
        'jupyter-lapd:runs-notify'
      ].map(id => [id, app.isPluginActivated(id)]);
    });
    expect(plugins).toEqual([
      ['jupyter-lapd:runs-model', true],
      ['jupyter-lapd:runs-panel', true],
      ['jupyter-lapd:runs-status', true],
      ['jupyter-lapd:runs-notify', true]
    ]);
    expect(
      await page.evaluate(() =>
        (window as any).jupyterapp.commands.hasCommand('lapd:open-runs-panel')
      )
    ).toBe(true);

    await execute(page, 'lapd:open-runs-panel');
    const panel = page.locator('#jp-left-stack #lapd-runs-panel');
    await expect(panel).toBeVisible();
    await expect(panel.locator('.jp-lapd-RunsPanel-empty')).toBeVisible();
    // Notebook 7 has no status bar: the item is simply not there.
    await expect(page.locator('.jp-lapd-RunsStatus')).toHaveCount(0);
    // The panel went to the left area, not to the fallback dialog.
    expect(logs.filter(text => text.includes('opens in a dialog'))).toEqual([]);

    expect(ours(messages)).toEqual([]);
  });
});

test.describe('notebook view', () => {
  test.use({ autoGoto: false });

  test('the panel follows a run and cancels it; its end is notified', async ({
    page,
    request,
    tmpPath
  }) => {
    const messages = watchConsole(page);
    const notebook = `${tmpPath}/nb7-run.ipynb`;
    await seedNotebook(request, notebook, [
      'print("step one")',
      'import time\nfor step in range(600):\n    time.sleep(0.2)',
      'print("unreached")'
    ]);
    await page.goto(`notebooks/${notebook}`);
    await expect(page.locator('.jp-NotebookPanel')).toBeVisible();
    // The plain notebook, even with jupyter-collaboration installed (RTC off).
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            (window as any).jupyterapp.shell.currentWidget?.context?.model
              ?.collaborative ?? null
        )
      )
      .toBe(false);

    const run = await startRun(request, notebook);
    await execute(page, 'lapd:open-runs-panel');
    const row = page.locator(`#lapd-runs-panel [data-run-id="${run.id}"]`);
    await expect(row).toHaveAttribute('data-status', 'running');
    await expect(row.locator('.jp-lapd-RunsPanel-progress')).toHaveText(
      '1/3 cells'
    );
    await expect(row.locator('.jp-lapd-RunsPanel-elapsed')).toHaveText(
      /^\d+s$/
    );

    await row.locator('.jp-lapd-RunsPanel-cancel').click();
    await waitForStatus(request, run.id, 'cancelled');
    await expect(row).toHaveAttribute('data-status', 'cancelled');
    await expect(
      page.locator('.jp-Notification-Toast-info', {
        hasText: 'Background run of nb7-run.ipynb was cancelled.'
      })
    ).toBeVisible();

    expect(ours(messages)).toEqual([]);
  });

  test('the toolbar button runs the notebook; reopened mid-run, it reattaches', async ({
    page,
    request,
    tmpPath
  }) => {
    const messages = watchConsole(page);
    const conflicts = watchSaveConflicts(page);
    const LINES = 600; // 2 minutes at 0.2 s a line: the test cancels it long before.
    const notebook = `${tmpPath}/nb7-reattach.ipynb`;
    await seedNotebook(request, notebook, [
      'print("step one")',
      printLines(LINES),
      'print("after the cancel")'
    ]);
    await page.goto(`notebooks/${notebook}`);
    await expect(page.locator('.jp-NotebookPanel')).toBeVisible();
    await waitForNotebookReady(page);

    // Every command of the notebook side is there; Cancel waits for a run.
    expect(
      await page.evaluate(() =>
        [
          'lapd:run-all-in-background',
          'lapd:run-selected-in-background',
          'lapd:run-below-in-background',
          'lapd:cancel-run',
          'lapd:open-runs-panel'
        ].filter(id => !(window as any).jupyterapp.commands.hasCommand(id))
      )
    ).toEqual([]);
    expect(await isEnabled(page, 'lapd:cancel-run')).toBe(false);

    // Notebook 7's notebook toolbar has the button the schema declares.
    const button = page.locator(RUN_BUTTON);
    await expect(button).toHaveCount(1);
    await expect(button).toBeEnabled();
    await button.click();
    const run = await waitForActiveRun(request, notebook);

    // The outputs stream into the open notebook while the second cell runs.
    await expect
      .poll(() => shownLines(page, 0), { timeout: 60000 })
      .toEqual(['step one']);
    await expect
      .poll(async () => (await shownLines(page, 1)).length, { timeout: 60000 })
      .toBeGreaterThanOrEqual(3);
    expect(await promptOf(page, 1)).toBe('[*]:');
    await expect(cellAt(page, 2)).toHaveClass(/\bjp-lapd-queued\b/);
    const live = await shownLines(page, 1);
    expect(live).toEqual(expectedLines(live.length));
    await expect
      .poll(async () => (await shownLines(page, 1)).length)
      .toBeGreaterThan(live.length);
    await expect.poll(() => isEnabled(page, 'lapd:cancel-run')).toBe(true);

    // The page goes away entirely, while the run goes on and the file grows.
    const shownBefore = (await shownLines(page, 1)).length;
    await page.evaluate(() => {
      window.location.href = 'about:blank';
    });
    await page.waitForURL('about:blank');
    const storedWhileGone = await waitForStoredLines(
      request,
      notebook,
      1,
      shownBefore + 3
    );

    // Reopened: the notebook shows what was printed meanwhile, each line once, and
    // streams on; the running cell shows [*], the last one is still queued.
    await page.goto(`notebooks/${notebook}`);
    await expect(page.locator('.jp-NotebookPanel')).toBeVisible();
    await waitForNotebookReady(page);
    await expect.poll(() => shownLines(page, 0)).toEqual(['step one']);
    await expect
      .poll(async () => (await shownLines(page, 1)).length)
      .toBeGreaterThanOrEqual(storedWhileGone);
    const reopened = await shownLines(page, 1);
    expect(reopened).toEqual(expectedLines(reopened.length));
    expect(reopened.length).toBeLessThan(LINES);
    await expect
      .poll(async () => (await shownLines(page, 1)).length)
      .toBeGreaterThan(reopened.length);
    const streamed = await shownLines(page, 1);
    expect(streamed).toEqual(expectedLines(streamed.length));
    await expect.poll(() => promptOf(page, 1)).toBe('[*]:');
    await expect(cellAt(page, 2)).toHaveClass(/\bjp-lapd-queued\b/);
    expect((await activeRuns(request, notebook)).map(({ id }) => id)).toEqual([
      run.id
    ]);

    // Cancel Background Run, as the Run menu would run it: the reattached page knows
    // the run.
    await expect.poll(() => isEnabled(page, 'lapd:cancel-run')).toBe(true);
    await execute(page, 'lapd:cancel-run');
    await waitForStatus(request, run.id, 'cancelled');
    await expect.poll(() => promptOf(page, 1)).not.toBe('[*]:');
    await expect(page.locator('.jp-Cell.jp-lapd-queued')).toHaveCount(0);
    await expect.poll(() => isEnabled(page, 'lapd:cancel-run')).toBe(false);
    expect(await shownLines(page, 2)).toEqual([]);

    // The file holds the run: the first cell, the lines of the second up to the
    // cancel (at least those the page showed), nothing of the third.
    await expect
      .poll(
        async () =>
          storedLines((await readNotebook(request, notebook)).cells[1]).length
      )
      .toBeGreaterThanOrEqual(streamed.length);
    const file = await readNotebook(request, notebook);
    expect(storedLines(file.cells[0])).toEqual(['step one']);
    expect(file.cells[0].execution_count).toEqual(expect.any(Number));
    const stored = storedLines(file.cells[1]);
    expect(stored).toEqual(expectedLines(stored.length));
    expect(stored.length).toBeLessThan(LINES);
    expect(file.cells[2].outputs).toEqual([]);
    expect(file.cells[2].execution_count).toBeNull();
    // The page shows the same lines.
    await expect
      .poll(async () =>
        (await shownLines(page, 1)).filter(line => /^line \d+$/.test(line))
      )
      .toEqual(stored);

    // Run Below in Background, from the last cell: a new run of that cell alone.
    await cellAt(page, 2).locator('.jp-InputPrompt').click();
    await execute(page, 'lapd:run-below-in-background');
    await expect
      .poll(() => shownLines(page, 2), { timeout: 60000 })
      .toEqual(['after the cancel']);
    const [latest] = await runsOf(request, notebook);
    expect(latest.id).not.toBe(run.id);
    await waitForStatus(request, latest.id, 'completed');
    expect((await getRun(request, latest.id)).cells_total).toBe(1);
    await expect
      .poll(async () =>
        storedLines((await readNotebook(request, notebook)).cells[2])
      )
      .toEqual(['after the cancel']);
    expect(
      storedLines((await readNotebook(request, notebook)).cells[1])
    ).toEqual(stored);

    // No "File Changed" dialog at any point, and nothing of ours in the console.
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    expect(conflicts).toEqual([]);
    expect(ours(messages)).toEqual([]);
  });

  test('saving during and after a run asks nothing and keeps every edit', async ({
    page,
    request,
    tmpPath
  }) => {
    const notebook = `${tmpPath}/nb7-save.ipynb`;
    await seedNotebook(request, notebook, [printLines(40, 0.25), 'x = 1']);
    await page.goto(`notebooks/${notebook}`);
    await expect(page.locator('.jp-NotebookPanel')).toBeVisible();
    await waitForNotebookReady(page);
    await page.locator(RUN_BUTTON).click();
    const run = await waitForActiveRun(request, notebook);

    const saved = async (text: string) =>
      expect
        .poll(async () =>
          storedSource((await readNotebook(request, notebook)).cells[1])
        )
        .toContain(text);
    for (let i = 1; i <= 3; i++) {
      const shown = (await shownLines(page, 0)).length;
      await typeAtEnd(page, 1, ` + ${i}`);
      await page.keyboard.press('Control+s');
      await saved(` + ${i}`);
      await expect
        .poll(async () => (await shownLines(page, 0)).length, {
          timeout: 60000
        })
        .toBeGreaterThan(shown);
    }
    expect((await waitForEnd(request, run.id)).status).toBe('completed');
    await typeAtEnd(page, 1, ' + 4');
    await page.keyboard.press('Control+s');
    await saved(' + 4');
    const file = await readNotebook(request, notebook);
    expect(storedLines(file.cells[0])).toEqual(expectedLines(40));
    expect(storedSource(file.cells[1])).toBe('x = 1 + 1 + 2 + 3 + 4');
  });
});
