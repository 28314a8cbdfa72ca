/**
 * A run that prints past the server's `max_output_bytes` (2 MiB): the file keeps the
 * stream's head and tail with a marker between them, and the page that followed the run
 * holds exactly that, so that saving the notebook afterwards writes what the run wrote.
 */

import type { IJupyterLabPageFixture } from '@jupyterlab/galata';

import { expect, test } from './fixtures';
import {
  isDirty,
  IStoredCell,
  readNotebook,
  startPrintingRun,
  storedSource,
  typeAtEnd,
  waitForEnd
} from './notebook-utils';

/** 40,000 lines of 67 bytes: 2.7 MB, printed as fast as the kernel can. */
const PRINTER = [
  'for i in range(40000):',
  '    print(f"{i:05d} " + "x" * 60)'
].join('\n');

test('a page that followed a long stream holds, and saves, what the file holds', async ({
  page,
  request,
  tmpPath,
  rtc
}) => {
  const nb = `${tmpPath}/long.ipynb`;
  const runId = await startPrintingRun(page, request, nb, PRINTER);
  expect((await waitForEnd(request, runId)).status).toBe('completed');

  let stored = '';
  await expect
    .poll(async () => {
      stored = streamText((await readNotebook(request, nb)).cells[0]);
      return stored.endsWith('39999 ' + 'x'.repeat(60) + '\n');
    })
    .toBe(true);
  expect(stored).toContain(' bytes elided; ');
  await expect.poll(() => shownText(page, 0)).toBe(stored);
  expect(await isDirty(page)).toBe(false);

  // Shown in chunks the browser lays out only while on screen: the same text, and the
  // same text selected (copied) as from one plain <pre>. (With real-time collaboration
  // the last outputs can reach the page through the shared document after the run's
  // end, when the notebook no longer follows it: JupyterLab renders those itself.)
  const pre = page
    .locator('.jp-Notebook .jp-CodeCell')
    .first()
    .locator('.jp-OutputArea-output pre')
    .first();
  await expect.poll(() => pre.evaluate(node => node.textContent)).toBe(stored);
  if (!rtc) {
    expect(await pre.locator('.jp-lapd-TextChunk').count()).toBeGreaterThan(1);
  }
  const [selected, plain] = await pre.evaluate(node => {
    const select = (target: Node) => {
      const range = document.createRange();
      range.selectNodeContents(target);
      const selection = window.getSelection()!;
      selection.removeAllRanges();
      selection.addRange(range);
      const text = selection.toString();
      selection.removeAllRanges();
      return text;
    };
    const copy = document.createElement('pre');
    copy.textContent = node.textContent;
    node.parentElement!.appendChild(copy);
    try {
      return [select(node), select(copy)];
    } finally {
      copy.remove();
    }
  });
  expect(selected.length).toBeGreaterThan(0);
  expect(selected).toBe(plain);

  // Saved after an edit: the run's outputs are written as the run wrote them.
  await typeAtEnd(page, 1, ' + 1');
  await page.keyboard.press('Control+s');
  await expect
    .poll(async () => {
      const file = await readNotebook(request, nb);
      return storedSource(file.cells[1]);
    })
    .toBe('x = 1 + 1');
  expect(streamText((await readNotebook(request, nb)).cells[0])).toBe(stored);
});

/** The text of a cell's stream outputs in the file. */
function streamText(cell: IStoredCell): string {
  return (cell.outputs ?? [])
    .map(output => {
      const text = output.text ?? '';
      return Array.isArray(text) ? text.join('') : text;
    })
    .join('');
}

/** The text of a cell's stream outputs in the page's notebook model. */
async function shownText(
  page: IJupyterLabPageFixture,
  index: number
): Promise<string> {
  return page.evaluate(i => {
    const notebook = (window as any).jupyterapp.shell.currentWidget.content;
    const outputs = notebook.model.cells.get(i).outputs.toJSON();
    return outputs
      .map((output: { text?: string | string[] }) => {
        const text = output.text ?? '';
        return Array.isArray(text) ? text.join('') : text;
      })
      .join('');
  }, index);
}
