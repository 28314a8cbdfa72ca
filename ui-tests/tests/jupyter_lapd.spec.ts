import { expect, test } from '@jupyterlab/galata';

import { seedNotebook } from './notebook-utils';

/**
 * Don't load JupyterLab webpage before running the tests.
 * This is required to ensure we capture all log messages.
 */
test.use({ autoGoto: false });

test('the plugin activates and reaches the server extension', async ({
  page
}) => {
  const logs: string[] = [];

  page.on('console', message => {
    logs.push(message.text());
  });

  await page.goto();

  // The plugin logs once listRuns() has answered, which may be after the app is ready;
  // polling both lists shows the plugin's error, if any, when the check fails.
  await expect
    .poll(() => ({
      reachable: logs.filter(
        s => s === 'jupyter_lapd: server extension reachable'
      ).length,
      errors: logs.filter(s => s.startsWith('jupyter_lapd: the server'))
    }))
    .toEqual({ reachable: 1, errors: [] });
});

test.describe('without real-time collaboration', () => {
  test.use({ autoGoto: true });

  test('notebooks open as plain documents on this server', async ({
    page,
    request,
    tmpPath
  }) => {
    // jupyter-collaboration may be installed: jupyter_server_test_config.py turns RTC
    // off, so that these specs test the plain path (playwright.collab.config.js tests
    // the other one).
    const nb = `${tmpPath}/plain.ipynb`;
    await seedNotebook(request, nb, [{ id: 'c', source: 'print(1)' }]);
    expect(await page.notebook.openByPath(nb)).toBe(true);
    expect(
      await page.evaluate(() => {
        const widget = (window as any).jupyterapp.shell.currentWidget;
        const config = document.getElementById('jupyter-config-data');
        return {
          collaborative: widget.context.model.collaborative,
          disableRTC: JSON.parse(config?.textContent ?? '{}').disableRTC ?? null
        };
      })
    ).toEqual({ collaborative: false, disableRTC: true });
  });
});
