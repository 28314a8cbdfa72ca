/**
 * Saving while the run writes the file, with the run's `flushed` events made late on
 * purpose: the save's check must not ask "File Changed" about the run's own writes,
 * whichever of the check's answer and the write's event reaches the page first.
 */

import type { IJupyterLabPageFixture } from '@jupyterlab/galata';

import { expect, test } from './fixtures';
import type { APIRequestContext, WebSocketRoute } from '@playwright/test';

import {
  expectedLines,
  readNotebook,
  startPrintingRun,
  storedLines,
  storedSource,
  typeAtEnd,
  waitForEnd,
  watchSaveConflicts
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
 * A printing run of `<tmpPath>/<name>` followed by the page through `EventsRelay`.
 */
async function startRelayedRun(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string
) {
  const conflicts = watchSaveConflicts(page);
  const relay = new EventsRelay();
  await relay.install(page);
  const runId = await startPrintingRun(page, request, nb);
  return { conflicts, relay, runId };
}

/**
 * The save went through without a dialog, and the run ended with every line of its
 * output and the user's edit in the file.
 */
async function expectSavedAndKept(
  page: IJupyterLabPageFixture,
  request: APIRequestContext,
  nb: string,
  run: { runId: string; conflicts: string[] },
  source: string
): Promise<void> {
  await expect
    .poll(async () => storedSource((await readNotebook(request, nb)).cells[1]))
    .toBe(source);
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  expect((await waitForEnd(request, run.runId)).status).toBe('completed');
  // (with real-time collaboration, once the room has saved the run's last outputs)
  await expect
    .poll(async () => {
      const file = await readNotebook(request, nb);
      return [storedLines(file.cells[0]), storedSource(file.cells[1])];
    })
    .toEqual([expectedLines(30), source]);
  expect(run.conflicts).toEqual([]);
}

test.describe('saving while the run writes, with late events', () => {
  test('a save that sees a write before its event asks nothing', async ({
    page,
    request,
    tmpPath
  }) => {
    const nb = `${tmpPath}/late-event.ipynb`;
    const run = await startRelayedRun(page, request, nb);

    // The run has written the file; its event is held: the save's check sees a hash
    // the page has not heard of yet.
    await typeAtEnd(page, 1, ' + 1');
    await run.relay.holdNextWrite();
    await page.keyboard.press('Control+s');
    await expectSavedAndKept(page, request, nb, run, 'x = 1 + 1');
  });

  test("a save whose check answers after a newer write's event asks nothing", async ({
    page,
    request,
    tmpPath
  }) => {
    const nb = `${tmpPath}/late-answer.ipynb`;
    const name = nb.split('/').pop()!;
    const run = await startRelayedRun(page, request, nb);

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
        await run.relay.nextDeliveredWrite();
        // and the page has handled that event
        await new Promise(resolve => setTimeout(resolve, 200));
        await route.fulfill({ response: answer });
      }
    );
    // The page follows the run and has taken a write: only the save fetches now.
    await run.relay.nextDeliveredWrite();
    await typeAtEnd(page, 1, ' + 2');
    armed = true;
    await page.keyboard.press('Control+s');
    await expectSavedAndKept(page, request, nb, run, 'x = 1 + 2');
    expect(delayed).toBe(true);
  });
});
