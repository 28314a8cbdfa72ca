/**
 * Configuration for Playwright using default from @jupyterlab/galata
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');
const { galata } = require('@jupyterlab/galata');

// Keep in sync with jupyter_server_test_config.py. Not 8888, so that a `make lab`
// running on this machine is never mistaken for the test server.
const PORT = process.env.LAPD_UI_TEST_PORT || '8942';
const BASE_URL = `http://127.0.0.1:${PORT}`;

module.exports = {
  ...baseConfig,
  // Two cores run the server, a kernel and Chromium: be patient.
  timeout: 180 * 1000,
  expect: { timeout: 30 * 1000 },
  // Jupyter Notebook 7 specs run against their own server (playwright.notebook.config.js),
  // and so do the real-time collaboration specs (playwright.collab.config.js, which runs
  // every other spec too, with real-time collaboration on).
  testIgnore: ['**/notebook7.spec.ts', '**/collab.spec.ts'],
  workers: 1,
  retries: 0,
  // Never serve the HTML report and wait: `make test` must end on failure too.
  reporter: [
    [process.env.CI ? 'github' : 'list'],
    ['html', { open: 'never' }],
    // read by failures.js, which `make test` runs to end its output with each error
    ['json', { outputFile: 'reports/lab.json' }]
  ],
  use: {
    ...baseConfig.use,
    baseURL: BASE_URL,
    // Debian's Chromium (apt package `chromium`): Playwright downloads no browser.
    launchOptions: {
      executablePath: process.env.LAPD_CHROMIUM || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    },
    // Video recording needs Playwright's own ffmpeg download; traces need nothing.
    video: 'off',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      // A fresh JupyterLab 4.6 asks which kernel to start unless this is set.
      '@jupyterlab/notebook-extension:tracker': {
        autoStartDefaultKernel: true
      },
      '@jupyterlab/apputils-extension:notification': {
        checkForUpdates: false,
        fetchNews: 'false'
      }
    }
  },
  webServer: {
    command: 'jlpm start',
    url: `${BASE_URL}/lab`,
    timeout: 180 * 1000,
    reuseExistingServer: !process.env.CI,
    stdout: 'pipe',
    stderr: 'pipe'
  }
};
