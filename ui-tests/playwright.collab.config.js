/**
 * Playwright configuration of JupyterLab with jupyter-collaboration's real-time
 * collaboration on (jupyter_server_collab_test_config.py): every JupyterLab spec again,
 * and the collaboration specs, on a server of its own (port 8944, beside the servers of
 * playwright.config.js and playwright.notebook.config.js, whose notebooks are not
 * collaborative). Specs read the `rtc` option (tests/fixtures.ts).
 */
const labConfig = require('./playwright.config');

const PORT = process.env.LAPD_COLLAB_TEST_PORT || '8944';
const BASE_URL = `http://127.0.0.1:${PORT}`;

module.exports = {
  ...labConfig,
  testIgnore: ['**/notebook7.spec.ts'],
  // Keep the configs' results apart (the HTML reports too).
  outputDir: 'test-results-collab',
  reporter: [
    [process.env.CI ? 'github' : 'list'],
    ['html', { open: 'never', outputFolder: 'playwright-report-collab' }],
    ['json', { outputFile: 'reports/collab.json' }]
  ],
  use: {
    ...labConfig.use,
    baseURL: BASE_URL,
    rtc: true
  },
  webServer: {
    ...labConfig.webServer,
    command: 'jupyter lab --config jupyter_server_collab_test_config.py',
    url: `${BASE_URL}/lab`
  }
};
