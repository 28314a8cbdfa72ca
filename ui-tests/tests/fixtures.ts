/**
 * The `test` of every spec: galata's, with two additions.
 *
 * - `rtc`: whether the server has real-time collaboration on (jupyter-collaboration);
 *   playwright.collab.config.js sets it, and runs every spec a second time that way.
 * - `dialogs`: every JupyterLab dialog (`.jp-Dialog`) any page of the test showed, of any
 *   kind, recorded as it appears (one that closes at once is seen too). A test fails at
 *   its end if one was shown, unless it took the ones it expected out of the list.
 */

import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test as base
} from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

export { expect };

/**
 * A JupyterLab user, as galata's `mockUser` takes it.
 */
export function user(name: string) {
  return {
    identity: {
      username: name.toLowerCase(),
      name,
      display_name: name,
      initials: name.slice(0, 2).toUpperCase(),
      color: 'var(--jp-collaborator-color2)'
    },
    permissions: {}
  };
}

export const test = base.extend<{
  /** The server has real-time collaboration on (set by the config). */
  rtc: boolean;
  /** The text of each dialog shown so far, in order. */
  dialogs: string[];
  /** Open JupyterLab as another user, in a browser context of its own. */
  collaborator: (name: string) => Promise<IJupyterLabPageFixture>;
}>({
  rtc: [false, { option: true }],
  dialogs: [
    async ({ page }, use) => {
      const shown: string[] = [];
      await watchDialogs(page, shown);
      await use(shown);
      expect(shown, 'dialogs shown during the test').toEqual([]);
    },
    { auto: true }
  ],
  collaborator: async (
    { baseURL, browser, tmpPath, mockSettings, waitForApplication, dialogs },
    use
  ) => {
    const pages: IJupyterLabPageFixture[] = [];
    await use(async name => {
      const { page } = await galata.newPage({
        baseURL: baseURL!,
        browser,
        tmpPath,
        mockSettings,
        mockUser: user(name),
        waitForApplication
      });
      await watchDialogs(page, dialogs);
      pages.push(page);
      return page;
    });
    for (const page of pages) {
      await page.context().close();
    }
  }
});

/**
 * Record in `shown` the text of every dialog `page` shows, in this document and in
 * every one it loads later.
 */
export async function watchDialogs(page: Page, shown: string[]): Promise<void> {
  await page.exposeFunction('lapdDialogShown', (text: string) => {
    shown.push(text);
  });
  await page.addInitScript(observeDialogs);
  await page.evaluate(observeDialogs);
}

/**
 * Runs in the page: report each `.jp-Dialog` added to the document.
 */
function observeDialogs(): void {
  const w = window as any;
  if (w.lapdDialogObserver) {
    return;
  }
  const reported = new WeakSet<Element>();
  const report = (dialog: Element) => {
    if (!reported.has(dialog)) {
      reported.add(dialog);
      // read once the dialog has rendered its title (on a slow machine its body and
      // buttons can come first), or once it is gone, or after 5 s whatever it shows
      const read = (tries: number) => {
        const title = dialog
          .querySelector('.jp-Dialog-header')
          ?.textContent?.trim();
        if (!title && dialog.isConnected && tries > 0) {
          setTimeout(() => read(tries - 1), 50);
          return;
        }
        const text = (dialog.textContent ?? '').replace(/\s+/g, ' ').trim();
        w.lapdDialogShown(text.slice(0, 500));
      };
      setTimeout(() => read(100), 50);
    }
  };
  const start = () => {
    w.lapdDialogObserver = new MutationObserver(mutations => {
      for (const mutation of mutations) {
        mutation.addedNodes.forEach(node => {
          if (!(node instanceof Element)) {
            return;
          }
          if (node.matches('.jp-Dialog')) {
            report(node);
          }
          node.querySelectorAll('.jp-Dialog').forEach(report);
        });
      }
    });
    w.lapdDialogObserver.observe(document.documentElement, {
      childList: true,
      subtree: true
    });
    document.querySelectorAll('.jp-Dialog').forEach(report);
  };
  if (document.documentElement) {
    start();
  } else {
    document.addEventListener('DOMContentLoaded', start);
  }
}

/**
 * Close JupyterLab's own "Server Connection Error" notice, if the page shows it, and take
 * it out of `dialogs`. Stock JupyterLab shows it after any offline spell during which one
 * of its polls of the server (sessions, kernel specs, terminals) failed, run or no run;
 * a test that takes the page offline calls this once the page is back.
 */
export async function dismissConnectionLost(
  page: Page,
  dialogs: string[]
): Promise<void> {
  const notice = page.locator('.jp-Dialog', {
    hasText: 'Server Connection Error'
  });
  if ((await notice.count()) > 0) {
    await notice.getByRole('button', { name: 'Close' }).click();
    await expect(notice).toHaveCount(0);
  }
  const others = dialogs.filter(
    text => !text.startsWith('Server Connection Error')
  );
  dialogs.splice(0, dialogs.length, ...others);
}
