/**
 * Helpers of the runs panel and notification specs: seed notebooks through the
 * contents API and drive runs through the REST API, as a user's other tab or
 * `jupyter lapd` would.
 */

import { expect } from '@jupyterlab/galata';
import type { APIRequestContext, Page } from '@playwright/test';

import { encodePath } from './notebook-utils';

/**
 * A run as `GET /lapd/api/runs/<id>` answers it (the fields these specs read).
 */
export interface IRunRecord {
  id: string;
  path: string;
  status: string;
  cells_done: number;
  cells_total: number;
}

/**
 * Write a notebook of code cells (nbformat 4.5, with cell ids) through the contents API.
 */
export async function seedNotebook(
  request: APIRequestContext,
  path: string,
  sources: string[]
): Promise<void> {
  const content = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3 (ipykernel)',
        language: 'python'
      },
      language_info: { name: 'python' }
    },
    cells: sources.map((source, index) => ({
      id: `cell-${index}`,
      cell_type: 'code',
      source,
      metadata: {},
      outputs: [],
      execution_count: null
    }))
  };
  const response = await request.put(`/api/contents/${encodePath(path)}`, {
    data: { type: 'notebook', format: 'json', content }
  });
  expect(response.status(), await response.text()).toBeLessThan(300);
}

/**
 * Start a run of every code cell on a fresh kernel (shut down when the run ends).
 */
export async function startRun(
  request: APIRequestContext,
  path: string
): Promise<IRunRecord> {
  const response = await request.post('/lapd/api/runs', {
    data: { path, kernel: 'new' }
  });
  expect(response.status(), await response.text()).toBe(201);
  return (await response.json()) as IRunRecord;
}

export async function getRun(
  request: APIRequestContext,
  id: string
): Promise<IRunRecord> {
  const response = await request.get(`/lapd/api/runs/${id}`);
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as IRunRecord;
}

/**
 * Wait until a run has the given status, through the REST API.
 */
export async function waitForStatus(
  request: APIRequestContext,
  id: string,
  status: string,
  timeout = 60000
): Promise<void> {
  await expect
    .poll(async () => (await getRun(request, id)).status, { timeout })
    .toBe(status);
}

/**
 * Cancel the test's active runs (those of notebooks under `folder`, the test's
 * tmpPath) and wait until they have ended, so that no kernel keeps running into the
 * next test, whose notebooks galata deletes meanwhile. Runs of other notebooks on the
 * same server are left alone.
 */
export async function cancelActiveRuns(
  request: APIRequestContext,
  folder: string
): Promise<void> {
  const response = await request.get('/lapd/api/runs?status=queued,running');
  expect(response.status(), await response.text()).toBe(200);
  const { runs } = (await response.json()) as { runs: IRunRecord[] };
  const ours = runs.filter(run => run.path.startsWith(`${folder}/`));
  for (const run of ours) {
    await request.post(`/lapd/api/runs/${run.id}/cancel`);
  }
  for (const run of ours) {
    await expect
      .poll(async () => (await getRun(request, run.id)).status, {
        timeout: 60000
      })
      .not.toMatch(/^(queued|running)$/);
  }
}

/**
 * Run a command of the application, as the palette or a menu would.
 */
export async function execute(page: Page, command: string): Promise<void> {
  await page.evaluate(async id => {
    await (window as any).jupyterapp.commands.execute(id);
  }, command);
}

/**
 * Wait until the runs plugins have listed the runs once in this page: the browser's
 * announcement ledger exists from then on.
 */
export async function waitForRunsListed(page: Page): Promise<void> {
  await expect
    .poll(() =>
      page.evaluate(() =>
        Object.keys(window.localStorage).some(key =>
          key.startsWith('jupyter-lapd:announced:')
        )
      )
    )
    .toBe(true);
}
