import { expect, test } from '@jupyterlab/galata';

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
