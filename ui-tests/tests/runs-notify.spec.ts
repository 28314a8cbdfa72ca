import { expect, test } from './fixtures';

import {
  cancelActiveRuns,
  execute,
  seedNotebook,
  startRun,
  waitForRunsListed,
  waitForStatus
} from './runs-utils';

test.afterEach(async ({ request, tmpPath }) => {
  await cancelActiveRuns(request, tmpPath);
});

test('a notification says a run completed, and its Open action opens the notebook', async ({
  page,
  request,
  tmpPath
}) => {
  const notebook = `${tmpPath}/notify-done.ipynb`;
  await seedNotebook(request, notebook, ['x = 6 * 7', 'print(x)']);
  await waitForRunsListed(page);

  await startRun(request, notebook);

  const toast = page.locator('.jp-Notification-Toast-success', {
    hasText: 'Background run of notify-done.ipynb completed.'
  });
  await expect(toast).toBeVisible();
  await toast.getByRole('button', { name: 'Open' }).click();

  await expect(
    page.locator('#jp-main-dock-panel .lm-TabBar-tab.jp-mod-current')
  ).toContainText('notify-done.ipynb');
  // The notebook shows the run's outputs, read from the file.
  await expect(
    page.locator('.jp-MainAreaWidget .jp-OutputArea-output').first()
  ).toHaveText('42');
});

test('a failed run is notified as an error with the failure', async ({
  page,
  request,
  tmpPath
}) => {
  const notebook = `${tmpPath}/notify-fail.ipynb`;
  await seedNotebook(request, notebook, ['1 / 0', 'print("unreached")']);
  await waitForRunsListed(page);

  await startRun(request, notebook);

  const toast = page.locator('.jp-Notification-Toast-error', {
    hasText: 'Background run of notify-fail.ipynb failed'
  });
  await expect(toast).toBeVisible();
  await expect(toast.getByRole('button', { name: 'Open' })).toBeVisible();
});

test('a run that ended while no page was open is announced once, at the next page load', async ({
  page,
  request,
  tmpPath
}) => {
  const notebook = `${tmpPath}/notify-away.ipynb`;
  await seedNotebook(request, notebook, ['print("done while away")']);
  // This browser has seen the runs list; then its only JupyterLab page goes away.
  await waitForRunsListed(page);
  await page.evaluate(() => window.location.assign('about:blank'));
  await page.waitForURL('about:blank');

  const run = await startRun(request, notebook);
  await waitForStatus(request, run.id, 'completed');

  // The next page load announces it.
  await page.goto();
  const message = 'Background run of notify-away.ipynb completed.';
  await expect(
    page.locator('.jp-Notification-Toast-success', { hasText: message })
  ).toBeVisible();

  // A reload does not: once the page has listed the runs (the panel shows this run),
  // the notification center holds no notification about it.
  await page.reload();
  await execute(page, 'lapd:open-runs-panel');
  await expect(
    page.locator(`#lapd-runs-panel [data-run-id="${run.id}"]`)
  ).toHaveAttribute('data-status', 'completed');
  await execute(page, 'apputils:display-notifications');
  const center = page.locator('.jp-Notification-Center');
  await expect(center).toBeVisible();
  await expect(center).not.toContainText('notify-away.ipynb');
  await expect(
    page.locator('.Toastify__toast', { hasText: message })
  ).toHaveCount(0);
});
