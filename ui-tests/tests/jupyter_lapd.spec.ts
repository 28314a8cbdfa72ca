import { expect, test } from './fixtures';

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

test.describe('documents', () => {
  test.use({ autoGoto: true });

  test('notebooks open as plain or collaborative documents, as the server says', async ({
    page,
    request,
    tmpPath,
    rtc
  }) => {
    // jupyter-collaboration is installed: jupyter_server_test_config.py turns RTC off,
    // and jupyter_server_collab_test_config.py on, so that every spec runs both ways.
    const nb = `${tmpPath}/plain.ipynb`;
    await seedNotebook(request, nb, [{ id: 'c', source: 'print(1)' }]);
    expect(await page.notebook.openByPath(nb)).toBe(true);
    await expect
      .poll(() =>
        page.evaluate(() => {
          const widget = (window as any).jupyterapp.shell.currentWidget;
          const config = document.getElementById('jupyter-config-data');
          return {
            collaborative: widget.context.model.collaborative ?? false,
            disableRTC:
              JSON.parse(config?.textContent ?? '{}').disableRTC ?? false
          };
        })
      )
      .toEqual({ collaborative: rtc, disableRTC: !rtc });
  });
});
