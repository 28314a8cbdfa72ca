import { expect, test } from './fixtures';
import * as path from 'path';

import {
  cancelActiveRuns,
  execute,
  getRun,
  seedNotebook,
  startRun,
  waitForStatus
} from './runs-utils';

/** A notebook whose run stays on its second cell until cancelled. */
const SLOW_CELLS = [
  'print("warming up")',
  'import time\nfor step in range(600):\n    time.sleep(0.2)',
  'print("never reached in these tests")'
];

test.afterEach(async ({ request, tmpPath }) => {
  await cancelActiveRuns(request, tmpPath);
});

test('the runs panel shows a running run with its progress and elapsed time, and cancels it', async ({
  page,
  request,
  tmpPath
}) => {
  const notebook = `${tmpPath}/panel-slow.ipynb`;
  await seedNotebook(request, notebook, SLOW_CELLS);

  await execute(page, 'lapd:open-runs-panel');
  const panel = page.locator('#lapd-runs-panel');
  await expect(panel).toBeVisible();
  await expect(
    page.locator('.jp-SideBar [data-id="lapd-runs-panel"]')
  ).toHaveAttribute('title', 'Background runs');

  const run = await startRun(request, notebook);
  const row = panel.locator(`[data-run-id="${run.id}"]`);
  await expect(row).toHaveAttribute('data-status', 'running');
  await expect(row.locator('.jp-lapd-RunsPanel-name')).toHaveText(
    'panel-slow.ipynb'
  );
  await expect(row.locator('.jp-lapd-RunsPanel-folder')).toHaveText(tmpPath);
  await expect(row.locator('.jp-lapd-RunsPanel-status')).toHaveText('running');
  // The first cell is done, the second one sleeps.
  await expect(row.locator('.jp-lapd-RunsPanel-progress')).toHaveText(
    '1/3 cells'
  );
  const bar = row.locator('[role="progressbar"]');
  await expect(bar).toHaveAttribute('aria-valuenow', '1');
  await expect(bar).toHaveAttribute('aria-valuemax', '3');
  await expect(row.locator('.jp-lapd-RunsPanel-barFill')).toHaveAttribute(
    'style',
    /width: 33%/
  );
  // The elapsed time ticks while the run goes on.
  const elapsed = row.locator('.jp-lapd-RunsPanel-elapsed');
  await expect(elapsed).toHaveText(/^\d+s$/);
  const before = (await elapsed.textContent()) ?? '';
  await expect(elapsed).not.toHaveText(before);

  await row.locator('.jp-lapd-RunsPanel-cancel').click();
  await waitForStatus(request, run.id, 'cancelled');
  await expect(row).toHaveAttribute('data-status', 'cancelled');
  await expect(row.locator('.jp-lapd-RunsPanel-cancel')).toHaveCount(0);
  await expect(
    panel
      .locator('.jp-lapd-RunsPanel-recent')
      .locator(`[data-run-id="${run.id}"]`)
  ).toBeVisible();
  // A finished run keeps its final elapsed time.
  const final = (await elapsed.textContent()) ?? '';
  expect(final).toMatch(/^\d+s$/);
});

test('clicking a run opens its notebook', async ({
  page,
  request,
  tmpPath
}) => {
  const notebook = `${tmpPath}/panel-open.ipynb`;
  await seedNotebook(request, notebook, SLOW_CELLS);
  const run = await startRun(request, notebook);

  await execute(page, 'lapd:open-runs-panel');
  const row = page.locator(`#lapd-runs-panel [data-run-id="${run.id}"]`);
  await row.locator('.jp-lapd-RunsPanel-name').click();

  await expect(
    page.locator('.jp-MainAreaWidget .jp-Notebook').first()
  ).toBeVisible();
  await expect(
    page.locator('#jp-main-dock-panel .lm-TabBar-tab.jp-mod-current')
  ).toContainText('panel-open.ipynb');
});

test('a failed cancel shows the server message', async ({
  page,
  request,
  tmpPath,
  dialogs
}) => {
  const notebook = `${tmpPath}/panel-gone.ipynb`;
  await seedNotebook(request, notebook, SLOW_CELLS);
  const run = await startRun(request, notebook);
  await execute(page, 'lapd:open-runs-panel');
  const row = page.locator(`#lapd-runs-panel [data-run-id="${run.id}"]`);
  await expect(row).toHaveAttribute('data-status', 'running');

  // The server refuses a cancel only for a run it does not know (404): answer this
  // one that way, in the server's error shape.
  await page.route(/\/lapd\/api\/runs\/[^/]+\/cancel/, route =>
    route.fulfill({
      status: 404,
      contentType: 'application/json',
      body: JSON.stringify({ message: `No run ${run.id}` })
    })
  );
  await row.locator('.jp-lapd-RunsPanel-cancel').click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Cannot cancel the run');
  await expect(dialog).toContainText(`No run ${run.id}`);
  await dialog.locator('.jp-Dialog-button').click();
  // the one dialog expected
  expect(dialogs.splice(0)).toEqual([
    expect.stringContaining('Cannot cancel the run')
  ]);
  expect((await getRun(request, run.id)).status).toBe('running');
});

test('the status bar shows how many runs are active', async ({
  page,
  request,
  tmpPath
}) => {
  const item = page.locator('.jp-lapd-RunsStatus');
  // Hidden while no run is active.
  await expect(item).toBeHidden();

  await seedNotebook(request, `${tmpPath}/status-a.ipynb`, SLOW_CELLS);
  await seedNotebook(request, `${tmpPath}/status-b.ipynb`, SLOW_CELLS);
  const a = await startRun(request, `${tmpPath}/status-a.ipynb`);
  const b = await startRun(request, `${tmpPath}/status-b.ipynb`);

  await expect(item).toBeVisible();
  await expect(item).toHaveText('2 runs');

  // Clicking it shows the runs panel.
  await item.click();
  await expect(page.locator('#lapd-runs-panel')).toBeVisible();

  await request.post(`/lapd/api/runs/${a.id}/cancel`);
  await expect(item).toHaveText('1 run');

  await request.post(`/lapd/api/runs/${b.id}/cancel`);
  await expect(item).toBeHidden();
});

/**
 * The documentation's screenshot: `LAPD_SCREENSHOTS=1 jlpm playwright test runs-panel`
 * writes docs/images/runs-panel.png.
 */
test('docs screenshot of the runs panel', async ({
  page,
  request,
  tmpPath
}) => {
  test.skip(!process.env.LAPD_SCREENSHOTS, 'set LAPD_SCREENSHOTS=1 to update');

  await seedNotebook(request, `${tmpPath}/prepare-data.ipynb`, [
    'rows = list(range(1000))',
    'print(len(rows))'
  ]);
  await seedNotebook(request, `${tmpPath}/evaluate.ipynb`, [
    'scores = [0.91, 0.87]',
    'print(sum(scores) / len(scores))',
    'raise ValueError("no validation split found")',
    'print("unreached")'
  ]);
  await seedNotebook(request, `${tmpPath}/train-model.ipynb`, [
    'import time\nepochs = 5',
    'for epoch in range(2):\n    print(f"epoch {epoch}: loss {1 / (epoch + 1):.3f}")',
    'print("loading checkpoint")',
    'for epoch in range(2, epochs):\n    time.sleep(600)\n    print(f"epoch {epoch}")',
    'print("saving model")',
    'print("done")'
  ]);
  for (const name of ['prepare-data', 'evaluate']) {
    const done = await startRun(request, `${tmpPath}/${name}.ipynb`);
    await expect
      .poll(async () => (await getRun(request, done.id)).status, {
        timeout: 60000
      })
      .toMatch(/^(completed|failed)$/);
  }
  const run = await startRun(request, `${tmpPath}/train-model.ipynb`);

  await page.notebook.openByPath(`${tmpPath}/train-model.ipynb`);
  await execute(page, 'lapd:open-runs-panel');
  const row = page.locator(`#lapd-runs-panel [data-run-id="${run.id}"]`);
  await expect(row.locator('.jp-lapd-RunsPanel-progress')).toHaveText(
    '3/6 cells'
  );
  await expect(row.locator('.jp-lapd-RunsPanel-elapsed')).toHaveText(
    /^([5-9]|\d\d)s$/
  );
  await page.screenshot({
    path: path.resolve(__dirname, '../../docs/images/runs-panel.png')
  });
});
