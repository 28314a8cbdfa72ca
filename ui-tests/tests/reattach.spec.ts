/**
 * Coming back to a running notebook: after the page went away, and after the network
 * did. Every output must show exactly once, and the file must hold them all.
 */

import { dismissConnectionLost, expect, test } from './fixtures';

import {
  activeRuns,
  cellAt,
  expectedLines,
  openNotebook,
  printLines,
  readNotebook,
  RUN_BUTTON,
  seedNotebook,
  shownLines,
  storedLines,
  waitForActiveRun,
  waitForEnd,
  waitForStoredLines
} from './notebook-utils';
import { startRun } from './runs-utils';

const LINES = 40;
const SLOW_LINES = 120;

test.describe('reattach', () => {
  test('a page closed mid-run loses nothing, and reopening resumes the stream', async ({
    page,
    request,
    tmpPath
  }) => {
    const nb = `${tmpPath}/reopen.ipynb`;
    // Long enough to outlast a page load on a busy machine.
    await seedNotebook(request, nb, [
      { id: 'print', source: printLines(SLOW_LINES, 0.25) },
      { id: 'after', source: 'print("after")' }
    ]);
    await openNotebook(page, nb);
    await page.locator(RUN_BUTTON).click();
    const run = await waitForActiveRun(request, nb);
    await expect
      .poll(async () => (await shownLines(page, 0)).length, { timeout: 60000 })
      .toBeGreaterThanOrEqual(3);

    // The page goes away entirely.
    await page.evaluate(() => {
      window.location.href = 'about:blank';
    });
    await page.waitForURL('about:blank');

    // Nobody watches, and the file keeps growing.
    const before = storedLines(
      (await readNotebook(request, nb)).cells[0]
    ).length;
    await waitForStoredLines(request, nb, 0, before + 3);

    // Back: JupyterLab restores the notebook's tab, which shows everything so far,
    // then streams on.
    // (galata's goto would wait for the Launcher, which the restored layout hides)
    await page.goBack();
    await expect(page.locator('#jupyterlab-splash')).toHaveCount(0);
    const tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', {
      hasText: 'reopen.ipynb'
    });
    await expect(tab).toHaveCount(1);
    await tab.click();
    await expect
      .poll(async () => (await shownLines(page, 0)).length)
      .toBeGreaterThan(before + 3);
    const reopened = await shownLines(page, 0);
    expect(reopened).toEqual(expectedLines(reopened.length));
    expect(reopened.length).toBeLessThan(SLOW_LINES);
    await expect
      .poll(async () => (await shownLines(page, 0)).length)
      .toBeGreaterThan(reopened.length);
    expect(await activeRuns(request, nb)).toHaveLength(1);

    expect((await waitForEnd(request, run.id)).status).toBe('completed');
    await expect
      .poll(() => shownLines(page, 0))
      .toEqual(expectedLines(SLOW_LINES));
    await expect.poll(() => shownLines(page, 1)).toEqual(['after']);
    await expect
      .poll(async () => {
        const file = await readNotebook(request, nb);
        return [storedLines(file.cells[0]), storedLines(file.cells[1])];
      })
      .toEqual([expectedLines(SLOW_LINES), ['after']]);
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  });

  test('going offline mid-run and back shows every line exactly once', async ({
    page,
    request,
    tmpPath,
    dialogs
  }) => {
    const logs: string[] = [];
    page.on('console', message => logs.push(message.text()));
    const nb = `${tmpPath}/offline.ipynb`;
    await seedNotebook(request, nb, [
      { id: 'print', source: printLines(LINES) }
    ]);
    await openNotebook(page, nb);
    await page.locator(RUN_BUTTON).click();
    const run = await waitForActiveRun(request, nb);
    await expect
      .poll(async () => (await shownLines(page, 0)).length, { timeout: 60000 })
      .toBeGreaterThanOrEqual(3);

    await page.context().setOffline(true);
    const atOffline = (await shownLines(page, 0)).length;
    // The run goes on without the page: a few seconds of lines reach the file...
    const stored = storedLines(
      (await readNotebook(request, nb)).cells[0]
    ).length;
    await expect
      .poll(
        async () =>
          storedLines((await readNotebook(request, nb)).cells[0]).length,
        { timeout: 30000 }
      )
      .toBeGreaterThan(Math.max(stored, atOffline) + 5);
    // ... but not the page.
    expect((await shownLines(page, 0)).length).toBeLessThanOrEqual(
      atOffline + 1
    );

    await page.context().setOffline(false);
    await expect
      .poll(() =>
        logs.some(line => line.includes(`run ${run.id} resumed after seq`))
      )
      .toBe(true);
    expect((await waitForEnd(request, run.id)).status).toBe('completed');
    await expect.poll(() => shownLines(page, 0)).toEqual(expectedLines(LINES));
    await expect(cellAt(page, 0).locator('.jp-OutputArea-output')).toHaveCount(
      1
    );
    await dismissConnectionLost(page, dialogs);
    await expect
      .poll(async () => storedLines((await readNotebook(request, nb)).cells[0]))
      .toEqual(expectedLines(LINES));
  });

  test('a notebook opened mid-run shows the running cell live before the cells above it', async ({
    page,
    request,
    tmpPath
  }) => {
    // JupyterLab renders the cells of a notebook it opens one after another while the
    // page is idle; here the page never is, and the cells above the running one stay
    // unrendered: the running cell must show the run live all the same.
    const ABOVE = 600;
    const nb = `${tmpPath}/long.ipynb`;
    await seedNotebook(request, nb, [
      ...Array.from({ length: ABOVE }, (_, i) => ({
        id: `c${i}`,
        source: `x${i} = ${i}`
      })),
      { id: 'print', source: printLines(SLOW_LINES, 0.25) }
    ]);
    const run = await startRun(request, nb);
    await waitForActiveRun(request, nb);
    await page.evaluate(() => {
      const held: (() => void)[] = [];
      (window as any).__heldIdle = held;
      window.requestIdleCallback = (callback: IdleRequestCallback) => {
        held.push(() => callback({ didTimeout: true, timeRemaining: () => 0 }));
        return held.length;
      };
      window.cancelIdleCallback = () => undefined;
    });
    await openNotebook(page, nb);

    // The running cell's lines, and how many cells above it are not rendered yet, at
    // one instant.
    const state = () =>
      page.evaluate(above => {
        const cells = (window as any).jupyterapp.shell.currentWidget.content
          .widgets;
        const running = cells[above];
        // (a cell not rendered yet holds its outputs outside the page)
        const text =
          !running.isPlaceholder() && running.node.isConnected
            ? (running.outputArea.node.textContent as string)
            : '';
        return {
          lines: text.split('\n').filter((line: string) => line !== ''),
          unrendered: cells
            .slice(0, above)
            .filter((cell: any) => cell.isPlaceholder()).length
        };
      }, ABOVE);
    let first = await state();
    await expect
      .poll(
        async () => {
          first = await state();
          return first.lines.length > 0 && first.unrendered > 0;
        },
        { timeout: 60000 }
      )
      .toBe(true);
    expect(first.lines).toEqual(expectedLines(first.lines.length));
    await expect
      .poll(async () => (await state()).lines.length)
      .toBeGreaterThan(first.lines.length);

    await request.post(`/lapd/api/runs/${run.id}/cancel`);
    await waitForEnd(request, run.id);
  });
});
