/**
 * The runs plugins in Jupyter Notebook 7 (`jupyter notebook`), run by
 * playwright.notebook.config.js against a server of its own.
 *
 * Notebook 7 has a left area (hidden until a panel is shown) in its tree and notebook
 * views, notifications and a command palette, but no status bar and no layout
 * restorer: the panel and the notifications work, the status bar item stays away.
 */

import { expect, test } from '@jupyterlab/galata';
import type { ConsoleMessage, Page } from '@playwright/test';

import {
  cancelActiveRuns,
  execute,
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
});
