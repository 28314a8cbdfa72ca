/**
 * ChunkedText shows a stream as JupyterLab's own renderer does (the same text, the same
 * links), in chunks of whole lines rendered a chunk per task.
 */

import { Sanitizer } from '@jupyterlab/apputils';
import {
  IRenderMime,
  MimeModel,
  RenderedText,
  textRendererFactory
} from '@jupyterlab/rendermime';

import {
  CHUNK_CLASS,
  ChunkedText,
  chunkedTextFactory,
  commonLines,
  FOLLOWING_CLASS,
  SLICE_CHARS
} from '../../notebook/chunkedtext';

const STDOUT = 'application/vnd.jupyter.stdout';

function options(): IRenderMime.IRendererOptions {
  return {
    mimeType: STDOUT,
    sanitizer: new Sanitizer(),
    resolver: null,
    linkHandler: null,
    latexTypesetter: null
  };
}

function model(text: string): MimeModel {
  return new MimeModel({ data: { [STDOUT]: text }, trusted: true });
}

/** What the page shows and links. */
function shown(node: HTMLElement): [string, string[][]] {
  const links = Array.from(node.querySelectorAll('a')).map(a => [
    a.getAttribute('href') ?? '',
    a.textContent ?? ''
  ]);
  return [node.textContent ?? '', links];
}

/** What JupyterLab's own renderer shows for `text`, rendered from scratch. */
async function stock(text: string): Promise<HTMLElement> {
  const renderer = textRendererFactory.createRenderer(
    options()
  ) as RenderedText;
  await renderer.renderModel(model(text));
  return renderer.node;
}

/** A renderer inside a notebook that follows a run (or not). */
function following(follows = true): ChunkedText {
  const panel = document.createElement('div');
  if (follows) {
    panel.classList.add(FOLLOWING_CLASS);
  }
  document.body.appendChild(panel);
  const renderer = chunkedTextFactory.createRenderer(options()) as ChunkedText;
  panel.appendChild(renderer.node);
  return renderer;
}

function pre(renderer: ChunkedText): Element | null {
  return renderer.node.firstElementChild;
}

function chunks(renderer: ChunkedText): number {
  return renderer.node.querySelectorAll(`pre > .${CHUNK_CLASS}`).length;
}

/** Let the tasks the renderer waits for run, and the promises after them. */
async function tasks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

const LINES = Array.from(
  { length: 40 },
  (_, i) =>
    [
      `line ${i} <b>&amp; "quoted"</b>\n`,
      `see https://jupyter.org/page${i}?a=1&b=2 and /tmp/file${i}.txt\n`,
      `café ✓ ${'x'.repeat(i)}\n`,
      `${i}\n`
    ][i % 4]
);

/** Text of about `slices` chunks. */
function long(slices: number, prefix = ''): string {
  const block = LINES.join('');
  return (
    prefix + block.repeat(Math.ceil((slices * SLICE_CHARS) / block.length))
  );
}

describe('ChunkedText', () => {
  afterEach(() => {
    document.body.replaceChildren();
  });

  it('shows growing text as JupyterLab does, in the same <pre>', async () => {
    const renderer = following();
    let text = '';
    let first: Element | null = null;
    for (const line of LINES) {
      text += line;
      await renderer.renderModel(model(text));
      expect(shown(renderer.node)).toEqual(shown(await stock(text)));
      first = first ?? pre(renderer);
      expect(pre(renderer)).toBe(first);
    }
    // lines added a few at a time go into the last chunk, not a chunk each
    expect(chunks(renderer)).toBe(1);
  });

  it('keeps the lines in common and renders the rest as JupyterLab does', async () => {
    const steps = [
      'a\n',
      'a\nb', // after a line that ended
      'a\nbc\n', // a line that had not ended is rendered again
      'a\nbc\nd\n',
      'a\nX\n', // not an extension: a \r overwrote a line, the text was bounded
      'a\nX\nsee https://jupyter', // a link cut short...
      'a\nX\nsee https://jupyter.org/\n', // ...is taken out, and linked whole
      'a\nX\nsee https://jupyter.org/\n\x1b[31mred\n', // ANSI: as JupyterLab renders it
      'a\nX\nsee https://jupyter.org/\n\x1b[31mred\nstill red\n',
      'short\n',
      'other\n',
      ''
    ];
    const renderer = following();
    for (const text of steps) {
      await renderer.renderModel(model(text));
      const expected = await stock(text);
      expect([text, ...shown(renderer.node)]).toEqual([
        text,
        ...shown(expected)
      ]);
      if (text.includes('\x1b')) {
        expect(renderer.node.innerHTML).toBe(expected.innerHTML);
      }
    }
  });

  it('keeps the chunks of the lines in common', async () => {
    const renderer = following();
    const text = long(3);
    await renderer.renderModel(model(text));
    const first = renderer.node.querySelector(`.${CHUNK_CLASS}`);
    await renderer.renderModel(model(text + 'more\n'));
    await renderer.renderModel(model(text + 'more\nand more\n'));
    expect(renderer.node.querySelector(`.${CHUNK_CLASS}`)).toBe(first);
    expect(renderer.node.textContent).toBe(text + 'more\nand more\n');
  });

  it('renders a long text a chunk per task, shown as it comes', async () => {
    jest.useFakeTimers();
    try {
      const renderer = following();
      const text = long(3);
      const rendering = renderer.renderModel(model(text));
      // everything but the next task: one chunk is rendered and shown
      for (let i = 0; i < 100; i++) {
        await Promise.resolve();
      }
      const first = renderer.node.textContent?.length ?? 0;
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(SLICE_CHARS);
      await jest.runAllTimersAsync();
      await rendering;
      expect(shown(renderer.node)).toEqual(shown(await stock(text)));
      expect(chunks(renderer)).toBeGreaterThanOrEqual(3);
    } finally {
      jest.useRealTimers();
    }
  });

  it('shows a replacement once it holds as much as what it replaces', async () => {
    const renderer = following();
    const before = long(3);
    await renderer.renderModel(model(before));
    const after = long(3, 'changed first line\n');
    const rendering = renderer.renderModel(model(after));
    for (let i = 0; i < 4; i++) {
      await Promise.resolve();
    }
    // one chunk of the new text is rendered: the old text is still shown, whole
    expect(renderer.node.textContent).toBe(before);
    await rendering;
    expect(shown(renderer.node)).toEqual(shown(await stock(after)));
  });

  it('carries on a render that a newer text overtakes', async () => {
    const renderer = following();
    const text = long(4);
    const first = renderer.renderModel(model(text));
    await tasks(1);
    const more = text + LINES.join('');
    await renderer.renderModel(model(more));
    await first;
    expect(shown(renderer.node)).toEqual(shown(await stock(more)));
    expect(renderer.node.textContent).toBe(more); // nothing twice
  });

  it('shows the last of overlapping renders of one growing model', async () => {
    const renderer = following();
    const texts = ['1\n', '1\n2\n', '1\n2\n3\n', '1\n2\n3\n4\n'];
    await renderer.renderModel(model(texts[0]));
    // JupyterLab asks for the next render without waiting for the one before
    await Promise.all(
      texts.slice(1).map(text => renderer.renderModel(model(text)))
    );
    expect(renderer.node.textContent).toBe('1\n2\n3\n4\n');
  });

  it('replaces what JupyterLab rendered, once rendered itself', async () => {
    const renderer = following();
    await renderer.renderModel(model('\x1b[31mred\n')); // JupyterLab's rendering
    const text = long(2, 'plain\n');
    const rendering = renderer.renderModel(model(text));
    await Promise.resolve();
    expect(renderer.node.textContent).toBe('red\n');
    await rendering;
    expect(shown(renderer.node)).toEqual(shown(await stock(text)));
  });

  it('renders as JupyterLab does outside a notebook that follows a run', async () => {
    const renderer = following(false);
    for (const text of ['a\n', 'a\nb\n', long(2)]) {
      await renderer.renderModel(model(text));
      expect(renderer.node.innerHTML).toBe((await stock(text)).innerHTML);
    }
    expect(chunks(renderer)).toBe(0);
  });

  it('renders a new output in chunks while a notebook of the page follows a run', async () => {
    const panel = document.createElement('div');
    document.body.appendChild(panel);
    const detached = () =>
      chunkedTextFactory.createRenderer(options()) as ChunkedText;
    // JupyterLab renders an output before it attaches it
    const before = detached();
    await before.renderModel(model(long(2)));
    expect(chunks(before)).toBe(0);
    panel.classList.add(FOLLOWING_CLASS);
    const during = detached();
    await during.renderModel(model(long(2)));
    expect(chunks(during)).toBeGreaterThanOrEqual(2);
    expect(shown(during.node)).toEqual(shown(await stock(long(2))));
  });

  it('finds the whole lines two texts begin with', () => {
    expect(commonLines('a\nb\n', 'a\nb\nc')).toBe(4);
    expect(commonLines('a\nbc', 'a\nbd')).toBe(2);
    expect(commonLines('a\nbc', 'a\nbc\n')).toBe(2);
    expect(commonLines('abc\n', 'abc\n')).toBe(4);
    expect(commonLines('x\n', 'y\n')).toBe(0);
    expect(commonLines('', 'y\n')).toBe(0);
  });
});
