/**
 * Saving while the run writes the file, with the run's `flushed` events made late on
 * purpose: the save's check must not ask "File Changed" about the run's own writes,
 * whichever of the check's answer and the write's event reaches the page first.
 */

import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { WebSocketRoute } from '@playwright/test';

import {
  cellAt,
  expectedLines,
  openNotebook,
  printLines,
  readNotebook,
  RUN_BUTTON,
  seedNotebook,
  storedLines,
  storedSource,
  waitForActiveRun,
  waitForEnd
} from './notebook-utils';

/**
 * How long a held `flushed` event stays back: under the page's wait for it (2 s).
 */
const HOLD_MS = 1200;

/**
 * The run's events socket between the page and the server; `holdNextWrite()` holds the
 * next `flushed` event (and, to keep their order, the events after it) for `HOLD_MS`.
 */
class EventsRelay {
  /**
   * Resolves when the next `flushed` event reached the relay, and is held.
   */
  holdNextWrite(): Promise<void> {
    return new Promise(resolve => (this._hold = resolve));
  }

  /**
   * Resolves when the next `flushed` event has been delivered to the page.
   */
  nextDeliveredWrite(): Promise<void> {
    return new Promise(resolve => this._delivered.push(resolve));
  }

  async install(page: IJupyterLabPageFixture): Promise<void> {
    await page.routeWebSocket(
      url => /\/lapd\/api\/runs\/[^/]+\/events$/.test(url.pathname),
      ws => this._relay(ws)
    );
    // The route takes effect in pages loaded after it.
    await page.goto();
  }

  private _relay(ws: WebSocketRoute): void {
    const server = ws.connectToServer();
    let queue = Promise.resolve();
    server.onMessage(message => {
      const flushed = isFlushed(message);
      const hold = flushed ? this._hold : null;
      if (hold) {
        this._hold = null;
      }
      queue = queue.then(async () => {
        if (hold) {
          hold();
          await new Promise(resolve => setTimeout(resolve, HOLD_MS));
        }
        ws.send(message);
        if (flushed) {
          for (const resolve of this._delivered.splice(0)) {
            resolve();
          }
        }
      });
    });
    ws.onMessage(message => server.send(message));
    ws.onClose((code, reason) => server.close({ code, reason }));
    server.onClose((code, reason) => ws.close({ code, reason }));
  }

  private _hold: (() => void) | null = null;
  private _delivered: Array<() => void> = [];
}

function isFlushed(message: string | Buffer): boolean {
  try {
    return JSON.parse(message.toString()).type === 'flushed';
  } catch {
    return false;
  }
}

/**
 * Console warnings of JupyterLab's save check finding a file it did not expect.
 */
function watchConflicts(page: IJupyterLabPageFixture): string[] {
  const conflicts: string[] = [];
  page.on('console', message => {
    if (message.text().includes('Different hash found')) {
      conflicts.push(message.text());
    }
  });
  return conflicts;
}

async function startPrinting(
  page: IJupyterLabPageFixture,
  request: any,
  nb: string
): Promise<string> {
  await seedNotebook(request, nb, [
    { id: 'print', source: printLines(30) },
    { id: 'mine', source: 'x = 1' }
  ]);
  await openNotebook(page, nb);
  await page.locator(RUN_BUTTON).click();
  const run = await waitForActiveRun(request, nb);
  return run.id;
}

async function typeInSecondCell(
  page: IJupyterLabPageFixture,
  text: string
): Promise<void> {
  await cellAt(page, 1).locator('.cm-content').click();
  await page.keyboard.press('End');
  await page.keyboard.type(text);
}

test.describe('saving while the run writes, with late events', () => {
  test('a save that sees a write before its event asks nothing', async ({
    page,
    request,
    tmpPath
  }) => {
    const conflicts = watchConflicts(page);
    const relay = new EventsRelay();
    await relay.install(page);
    const nb = `${tmpPath}/late-event.ipynb`;
    const runId = await startPrinting(page, request, nb);

    // The run has written the file; its event is held: the save's check sees a hash
    // the page has not heard of yet.
    await typeInSecondCell(page, ' + 1');
    await relay.holdNextWrite();
    await page.keyboard.press('Control+s');
    await expect
      .poll(async () =>
        storedSource((await readNotebook(request, nb)).cells[1])
      )
      .toBe('x = 1 + 1');
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);

    expect((await waitForEnd(request, runId)).status).toBe('completed');
    const file = await readNotebook(request, nb);
    expect(storedLines(file.cells[0])).toEqual(expectedLines(30));
    expect(storedSource(file.cells[1])).toBe('x = 1 + 1');
    expect(conflicts).toEqual([]);
  });

  test("a save whose check answers after a newer write's event asks nothing", async ({
    page,
    request,
    tmpPath
  }) => {
    const conflicts = watchConflicts(page);
    const relay = new EventsRelay();
    await relay.install(page);
    const nb = `${tmpPath}/late-answer.ipynb`;
    const name = nb.split('/').pop()!;
    const runId = await startPrinting(page, request, nb);

    // The check's answer (the file before the run's next write) reaches the page only
    // after that write's event did.
    let armed = false;
    let delayed = false;
    await page.route(
      url =>
        url.pathname.endsWith(`/${name}`) &&
        url.searchParams.get('content') === '0' &&
        url.searchParams.get('hash') === '1',
      async route => {
        if (!armed || delayed) {
          return route.continue();
        }
        delayed = true;
        const answer = await route.fetch();
        await relay.nextDeliveredWrite();
        await route.fulfill({ response: answer });
      }
    );
    // The page follows the run and has taken a write: only the save fetches now.
    await relay.nextDeliveredWrite();
    await typeInSecondCell(page, ' + 2');
    armed = true;
    await page.keyboard.press('Control+s');
    await expect
      .poll(async () =>
        storedSource((await readNotebook(request, nb)).cells[1])
      )
      .toBe('x = 1 + 2');
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    expect(delayed).toBe(true);

    expect((await waitForEnd(request, runId)).status).toBe('completed');
    const file = await readNotebook(request, nb);
    expect(storedLines(file.cells[0])).toEqual(expectedLines(30));
    expect(storedSource(file.cells[1])).toBe('x = 1 + 2');
    expect(conflicts).toEqual([]);
  });
});
