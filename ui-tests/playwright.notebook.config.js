/**
 * Playwright configuration of the Jupyter Notebook 7 specs: the same plugins, loaded by
 * `jupyter notebook` instead of `jupyter lab`, on a server of its own (port 8943, so that
 * it runs beside the JupyterLab test server of playwright.config.js).
 */
const labConfig = require('./playwright.config');

const PORT = process.env.LAPD_NOTEBOOK_TEST_PORT || '8943';
const BASE_URL = `http://127.0.0.1:${PORT}`;

module.exports = {
  ...labConfig,
  testMatch: '**/notebook7.spec.ts',
  testIgnore: [],
  // Keep the two configs' results apart (the JupyterLab run's HTML report too).
  outputDir: 'test-results-notebook7',
  reporter: [
    [process.env.CI ? 'github' : 'list'],
    ['html', { open: 'never', outputFolder: 'playwright-report-notebook7' }],
    ['json', { outputFile: 'reports/notebook7.json' }]
  ],
  use: {
    ...labConfig.use,
    baseURL: BASE_URL,
    // Notebook 7 serves its pages at /tree, /notebooks/..., not under /lab.
    appPath: ''
  },
  webServer: {
    // The same server configuration as JupyterLab's tests; expose_app_in_browser is
    // Notebook's own switch for `window.jupyterapp`, which galata waits for.
    command:
      `jupyter notebook --config jupyter_server_test_config.py --ServerApp.port=${PORT}` +
      ' --JupyterNotebookApp.expose_app_in_browser=True',
    url: `${BASE_URL}/tree`,
    timeout: 180 * 1000,
    reuseExistingServer: !process.env.CI,
    stdout: 'pipe',
    stderr: 'pipe'
  }
};
