/**
 * Background runs in collaborative notebooks (jupyter-collaboration, RTC on), run by
 * playwright.collab.config.js against a server of its own.
 *
 * While a room has the notebook open, the server puts the run's outputs into the shared
 * document and the room saves them: every page shows each output exactly once, the
 * edits collaborators make meanwhile are kept and saved, and the room never takes the
 * run's writes for out-of-band changes. With no room open the run writes the file, and
 * a page that opens the notebook mid-run joins live.
 */

import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

import {
  cellAt,
  expectedLines,
  ISeedCell,
  openNotebook,
  printLines,
  promptOf,
  readNotebook,
  RUN_BUTTON,
  seedNotebook,
  shownLines,
  storedLines,
  storedSource,
  waitForActiveRun,
  waitForEnd
} from './notebook-utils';
import { cancelActiveRuns, startRun } from './runs-utils';
import { expect, test, user } from './fixtures';

const LINES = 80;
const INTERVAL = 0.25;
const QUEUED = '.jp-lapd-queued';

/** The schema of jupyter-collaboration's room events (load, save, overwrite...). */
const SESSION_EVENTS =
  'https://schema.jupyter.org/jupyter_collaboration/session/v1';

/** The notebook each test runs: lines printed slowly, notes to edit, a last cell. */
const CELLS: ISeedCell[] = [
  { id: 'print', source: printLines(LINES, INTERVAL) },
  { id: 'notes', source: '# Notes', cell_type: 'markdown' },
  { id: 'after', source: 'print("after")' }
];

test.use({ mockUser: user('Alice') });

test.afterEach(async ({ request, tmpPath }) => {
  await cancelActiveRuns(request, tmpPath);
});

/**
 * Record the room events the server sends to this page (jupyter-collaboration's
 * session events: `save`, `overwrite`...), from now on.
 */
async function recordRoomEvents(page: Page): Promise<void> {
  await page.evaluate(schema => {
    const w = window as any;
    w.lapdRoomEvents = [];
    w.jupyterapp.serviceManager.events.stream.connect(
      (_: unknown, event: { schema_id: string }) => {
        if (event.schema_id === schema) {
          w.lapdRoomEvents.push(event);
        }
      }
    );
  }, SESSION_EVENTS);
}

interface IRoomEvent {
  action?: string;
  path: string;
  msg?: string;
}

async function roomEvents(page: Page, path: string): Promise<IRoomEvent[]> {
  const events: IRoomEvent[] = await page.evaluate(
    () => (window as any).lapdRoomEvents
  );
  return events.filter(event => event.path === path);
}

/**
 * A cell of the visible notebook as its (shared) model holds it.
 */
async function modelCell(
  page: Page,
  index: number
): Promise<{ source: string; outputs: any[]; execution_count: number | null }> {
  return page.evaluate(i => {
    const model = (window as any).jupyterapp.shell.currentWidget.context.model;
    const cell = model.cells.get(i).toJSON();
    return {
      source: Array.isArray(cell.source) ? cell.source.join('') : cell.source,
      outputs: cell.outputs ?? [],
      execution_count: cell.execution_count ?? null
    };
  }, index);
}

/**
 * The text lines the stream outputs of a model cell hold.
 */
function modelLines(cell: { outputs: any[] }): string[] {
  return cell.outputs
    .filter(output => output.output_type === 'stream')
    .map(output =>
      Array.isArray(output.text) ? output.text.join('') : output.text
    )
    .join('')
    .split('\n')
    .filter((line: string) => line !== '');
}

/**
 * Append text to the source of a markdown cell, typing as a user would.
 */
async function typeInto(
  page: IJupyterLabPageFixture,
  index: number,
  text: string
): Promise<void> {
  const cell = cellAt(page, index);
  await cell.scrollIntoViewIfNeeded();
  await cell.dblclick();
  const editor = cell.getByRole('textbox');
  await expect(editor).toBeVisible();
  await editor.press('Control+End');
  await editor.pressSequentially(text);
  await page.keyboard.press('Escape');
}

/**
 * Everything a page must show once the run has ended.
 */
async function expectFinal(page: IJupyterLabPageFixture): Promise<void> {
  await expect
    .poll(() => shownLines(page, 0), { timeout: 30000 })
    .toEqual(expectedLines(LINES));
  await expect(cellAt(page, 0).locator('.jp-OutputArea-output')).toHaveCount(1);
  await expect.poll(() => shownLines(page, 2)).toEqual(['after']);
  await expect(cellAt(page, 2).locator('.jp-OutputArea-output')).toHaveCount(1);
  const first = await modelCell(page, 0);
  expect(first.outputs).toHaveLength(1);
  expect(modelLines(first)).toEqual(expectedLines(LINES));
  expect(first.execution_count).not.toBeNull();
  expect((await modelCell(page, 2)).outputs).toHaveLength(1);
  await expect.poll(() => promptOf(page, 0)).not.toBe('[*]:');
  await expect(page.locator(QUEUED)).toHaveCount(0);
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
}

test.describe('real-time collaboration', () => {
  test("two users see the run's outputs once, and an edit made meanwhile is saved with them", async ({
    page,
    request,
    tmpPath,
    collaborator
  }) => {
    const nb = `${tmpPath}/shared.ipynb`;
    await seedNotebook(request, nb, CELLS);

    // Alice (page A) and Bob (page B, another browser context) open the notebook.
    const bob = await collaborator('Bob');
    await openNotebook(page, nb);
    await openNotebook(bob, nb);
    await recordRoomEvents(page);
    await recordRoomEvents(bob);
    const dialogs: string[] = [];
    for (const p of [page, bob]) {
      p.on('console', message => {
        if (/out-of-band|file changed/i.test(message.text())) {
          dialogs.push(message.text());
        }
      });
    }

    // Alice runs it in the background.
    await page.locator(RUN_BUTTON).click();
    const run = await waitForActiveRun(request, nb);

    // Both see the lines stream in, the running prompt, and the queued cell.
    for (const p of [page, bob]) {
      await expect
        .poll(async () => (await shownLines(p, 0)).length, {
          timeout: 60000
        })
        .toBeGreaterThanOrEqual(3);
    }
    await expect.poll(() => promptOf(bob, 0)).toBe('[*]:');
    await expect(cellAt(page, 2)).toHaveClass(/jp-lapd-queued/);
    // Bob's page learns of the run from the runs listing.
    await expect(cellAt(bob, 2)).toHaveClass(/jp-lapd-queued/, {
      timeout: 30000
    });

    // Meanwhile Bob writes notes; Alice sees them at once.
    await typeInto(bob, 1, '\nwritten by Bob during the run');
    await expect
      .poll(async () => (await modelCell(page, 1)).source)
      .toBe('# Notes\nwritten by Bob during the run');

    // The stream still grows in both pages, each line exactly once.
    const during = await shownLines(page, 0);
    expect(during).toEqual(expectedLines(during.length));
    expect(during.length).toBeLessThan(LINES);
    for (const p of [page, bob]) {
      await expect
        .poll(async () => (await shownLines(p, 0)).length)
        .toBeGreaterThan(during.length);
      const lines = await shownLines(p, 0);
      expect(lines).toEqual(expectedLines(lines.length));
    }

    expect((await waitForEnd(request, run.id)).status).toBe('completed');
    await expectFinal(page);
    await expectFinal(bob);
    expect((await modelCell(bob, 1)).source).toBe(
      '# Notes\nwritten by Bob during the run'
    );

    // The room saved it all: the run's outputs and Bob's notes.
    await expect
      .poll(
        async () => {
          const file = await readNotebook(request, nb);
          return {
            print: storedLines(file.cells[0]),
            notes: storedSource(file.cells[1]),
            after: storedLines(file.cells[2])
          };
        },
        { timeout: 30000 }
      )
      .toEqual({
        print: expectedLines(LINES),
        notes: '# Notes\nwritten by Bob during the run',
        after: ['after']
      });
    const file = await readNotebook(request, nb);
    expect(file.cells[0].outputs).toHaveLength(1);
    expect(file.cells[0].execution_count).not.toBeNull();
    expect(file.cells[2].execution_count).not.toBeNull();

    // No fight with the room: it saved, never reloaded the file over the document.
    for (const p of [page, bob]) {
      const events = await roomEvents(p, nb);
      expect(events.filter(e => e.action === 'overwrite')).toEqual([]);
      expect(events.some(e => e.action === 'save')).toBe(true);
      await expect(p.locator('.jp-Dialog')).toHaveCount(0);
      await expect
        .poll(() =>
          p.evaluate(
            () =>
              (window as any).jupyterapp.shell.currentWidget.context.model.dirty
          )
        )
        .toBe(false);
    }
    expect(dialogs).toEqual([]);
  });

  test('a page opening the notebook mid-run joins live', async ({
    page,
    request,
    tmpPath,
    collaborator
  }) => {
    const nb = `${tmpPath}/join.ipynb`;
    await seedNotebook(request, nb, CELLS);
    await recordRoomEvents(page);

    // Nobody has the notebook open: the run writes the file.
    const run = await startRun(request, nb);
    await expect
      .poll(
        async () =>
          storedLines((await readNotebook(request, nb)).cells[0]).length,
        { timeout: 60000 }
      )
      .toBeGreaterThanOrEqual(8);

    // Alice opens it: she sees the lines so far at once, then the new ones.
    await openNotebook(page, nb);
    const opened = await shownLines(page, 0);
    expect(opened.length).toBeGreaterThanOrEqual(8);
    expect(opened).toEqual(expectedLines(opened.length));
    expect(opened.length).toBeLessThan(LINES);
    await expect
      .poll(async () => (await shownLines(page, 0)).length)
      .toBeGreaterThan(opened.length + 3);
    await expect.poll(() => promptOf(page, 0)).toBe('[*]:');

    // Bob joins the room Alice opened, still mid-run.
    const bob = await collaborator('Bob');
    await openNotebook(bob, nb);
    const joined = await shownLines(bob, 0);
    expect(joined).toEqual(expectedLines(joined.length));
    expect(joined.length).toBeGreaterThan(opened.length);
    expect(joined.length).toBeLessThan(LINES);
    await expect
      .poll(async () => (await shownLines(bob, 0)).length)
      .toBeGreaterThan(joined.length);

    expect((await waitForEnd(request, run.id)).status).toBe('completed');
    await expectFinal(page);
    await expectFinal(bob);
    await expect
      .poll(
        async () => {
          const file = await readNotebook(request, nb);
          return {
            print: storedLines(file.cells[0]),
            after: storedLines(file.cells[2])
          };
        },
        { timeout: 30000 }
      )
      .toEqual({ print: expectedLines(LINES), after: ['after'] });
    const events = await roomEvents(page, nb);
    expect(events.filter(e => e.action === 'overwrite')).toEqual([]);
  });
});
