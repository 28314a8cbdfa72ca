/**
 * The stdout of a notebook that follows a run, rendered in chunks the browser lays out
 * only when they are on screen.
 */

import { IRenderMime, RenderedText, renderText } from '@jupyterlab/rendermime';

/**
 * The class of a notebook panel that follows a run (`NotebookRuns`): its streams are
 * rendered in chunks.
 */
export const FOLLOWING_CLASS = 'jp-lapd-mod-following';

/**
 * The class of one chunk of a stream's lines (style/notebook.css: a block the browser
 * lays out only while it is on screen).
 */
export const CHUNK_CLASS = 'jp-lapd-TextChunk';

/**
 * Characters of text in one chunk, rendered in one main-thread task (whole lines: a
 * longer line makes a longer chunk).
 */
export const SLICE_CHARS = 64 * 1024;

/**
 * A last chunk shorter than this is rendered again with the text that follows it, so
 * that a stream growing a few lines at a time does not make thousands of chunks.
 */
const SMALL_CHUNK = SLICE_CHARS / 4;

const STDOUT = 'application/vnd.jupyter.stdout';
const ESC = '\x1b';

interface IChunk {
  node: HTMLElement;
  /** The length of its text. */
  length: number;
}

/**
 * JupyterLab keeps a stream in one `<pre>`, which the browser lays out whole at every
 * change of the text: half a second for the 2 MB a cell printing a hundred thousand
 * lines shows, at each of its changes, so the page freezes while the run streams.
 *
 * This keeps the same text in one `<pre>` of chunks of whole lines (`CHUNK_CLASS`,
 * `SLICE_CHARS` each), which the browser lays out only while they are on screen. A
 * change keeps the chunks of the lines the old and the new text have in common, and
 * renders the rest with JupyterLab's own `renderText`, a chunk per main-thread task.
 * New chunks after the kept ones are shown as they come; chunks that replace shown ones
 * are shown once they hold as much text as those, so the output never shrinks for a
 * moment. A render that a newer text overtakes is carried on from where it stands, never
 * started over. Each chunk holds what JupyterLab renders of its lines, and nothing
 * JupyterLab renders spans a line's end (a web link or a path is on one line), so the
 * output shows and copies the same text, with the same links. A text with ANSI escapes,
 * whose colours carry from one line to the next, is rendered as JupyterLab renders it.
 *
 * Only outputs inside a notebook that follows a run (`FOLLOWING_CLASS`) are rendered
 * so (and new ones while one does: see `_follows`); elsewhere the page renders as
 * JupyterLab does.
 */
export class ChunkedText extends RenderedText {
  async renderModel(
    model: IRenderMime.IMimeModel,
    keepExisting?: boolean
  ): Promise<void> {
    // JupyterLab does not wait for one render before it asks for the next
    const version = ++this._version;
    const source = String(model.data[this.mimeType]);
    if (keepExisting || source.includes(ESC) || !this._follows()) {
      this._forget();
      await super.renderModel(model, keepExisting);
      return;
    }
    this.toggleClass('jp-mod-trusted', model.trusted);
    const pre = this._shownPre();
    let kept = this._keep(source);
    while (kept < source.length) {
      const end = sliceEnd(source, kept);
      const chunk = await this._render(source.slice(kept, end));
      if (version !== this._version) {
        return; // the newer render carries on from what is rendered
      }
      this._pending.push(chunk);
      this._text = source.slice(0, end);
      if (this._covers()) {
        this._commit(pre);
      }
      kept = end;
      if (kept < source.length) {
        await nextTask();
        if (version !== this._version) {
          return;
        }
      }
    }
    this._commit(pre);
  }

  /**
   * Whether the output is in a notebook that follows a run. A new output is rendered
   * before JupyterLab attaches it: it is taken to be in one if any notebook of the page
   * follows a run.
   */
  private _follows(): boolean {
    const following = `.${FOLLOWING_CLASS}`;
    return this.node.isConnected
      ? this.node.closest(following) !== null
      : document.querySelector(following) !== null;
  }

  /**
   * The `<pre>` the chunks go into: the one shown, or a new one, shown at once if the
   * output shows nothing yet, else once its chunks hold as much text as what JupyterLab
   * rendered there (`_covers`).
   */
  private _shownPre(): HTMLPreElement {
    const pre = this._pre;
    if (pre !== null && (pre.parentNode === this.node || this._building)) {
      return pre;
    }
    this._forget();
    const fresh = (this._pre = document.createElement('pre'));
    if (this.node.childNodes.length === 0) {
      this.node.appendChild(fresh);
    } else {
      // shown by _commit, in place of what JupyterLab rendered
      this._building = true;
      this._replaced = this.node.textContent?.length ?? 0;
    }
    return fresh;
  }

  /**
   * Keep the chunks (shown or rendered) of the lines the current text and `source`
   * begin with; the length of the text they hold.
   */
  private _keep(source: string): number {
    const current = [...this._chunks.slice(0, this._kept), ...this._pending];
    const common = commonLines(this._text, source);
    let length = this._text.length;
    while (current.length > 0) {
      const last = current[current.length - 1];
      const small = last.length < SMALL_CHUNK && length < source.length;
      if (length <= common && !small) {
        break;
      }
      current.pop();
      length -= last.length;
    }
    this._kept = Math.min(this._kept, current.length);
    this._pending = current.slice(this._kept);
    // a slice of the newest text: no older text is kept alive by it
    this._text = source.slice(0, length);
    return length;
  }

  /**
   * Whether the rendered chunks hold as much text as the shown ones they replace: they
   * are then shown (never a shorter output for a moment), and the rest as it comes.
   */
  private _covers(): boolean {
    const length = (chunks: IChunk[]) =>
      chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const replaced = this._building
      ? this._replaced
      : length(this._chunks.slice(this._kept));
    return length(this._pending) >= replaced;
  }

  /**
   * Show the rendered chunks in place of the shown ones they replace.
   */
  private _commit(pre: HTMLPreElement): void {
    for (const chunk of this._chunks.slice(this._kept)) {
      chunk.node.remove();
    }
    for (const chunk of this._pending) {
      pre.appendChild(chunk.node);
    }
    this._chunks = [...this._chunks.slice(0, this._kept), ...this._pending];
    this._kept = this._chunks.length;
    this._pending = [];
    if (this._building) {
      this._building = false;
      this.node.replaceChildren(pre);
    }
  }

  private async _render(text: string): Promise<IChunk> {
    const host = document.createElement('div');
    await renderText({
      host,
      sanitizer: this.sanitizer,
      source: text,
      translator: this.translator
    });
    const node = document.createElement('span');
    node.className = CHUNK_CLASS;
    // the height the browser assumes for a chunk it has never laid out
    const lines = Math.max(1, text.split('\n').length - 1);
    node.style.setProperty(
      'contain-intrinsic-block-size',
      `auto ${(lines * LINE_EM).toFixed(1)}em`
    );
    node.append(...Array.from(host.firstElementChild?.childNodes ?? []));
    return { node, length: text.length };
  }

  /** The chunks no longer say what the node shows (JupyterLab rendered it). */
  private _forget(): void {
    this._pre = null;
    this._chunks = [];
    this._kept = 0;
    this._pending = [];
    this._text = '';
    this._building = false;
    this._replaced = 0;
  }

  private _version = 0;
  /** The `<pre>` of the chunks, shown (or being built: `_building`). */
  private _pre: HTMLPreElement | null = null;
  private _building = false;
  /** The length of the text JupyterLab rendered, which the `<pre>` being built replaces. */
  private _replaced = 0;
  /** The chunks in `_pre`, in order. */
  private _chunks: IChunk[] = [];
  /** How many of `_chunks` the text being rendered keeps. */
  private _kept = 0;
  /** Chunks rendered after the kept ones, to be shown. */
  private _pending: IChunk[] = [];
  /** The text of the kept chunks and of the pending ones. */
  private _text = '';
}

/** The height of a line of output, in em (JupyterLab's code font: about 1.2). */
const LINE_EM = 1.2;

/**
 * The length of the whole lines `a` and `b` begin with (a last line that did not end
 * is not whole: more of it may come).
 */
export function commonLines(a: string, b: string): number {
  let same: number;
  if (b.startsWith(a)) {
    same = a.length;
  } else {
    // the longest common prefix, by halves (startsWith compares natively)
    let low = 0;
    let high = Math.min(a.length, b.length);
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (b.startsWith(a.slice(0, mid))) {
        low = mid;
      } else {
        high = mid - 1;
      }
    }
    same = low;
  }
  return same === 0 ? 0 : a.lastIndexOf('\n', same - 1) + 1;
}

/**
 * Where the chunk of `source` that starts at `at` ends: after the last line end within
 * `SLICE_CHARS`, or after the first line end beyond, or at the end of `source`.
 */
function sliceEnd(source: string, at: number): number {
  if (source.length - at <= SLICE_CHARS) {
    return source.length;
  }
  const within = source.lastIndexOf('\n', at + SLICE_CHARS - 1);
  if (within >= at) {
    return within + 1;
  }
  const beyond = source.indexOf('\n', at + SLICE_CHARS);
  return beyond < 0 ? source.length : beyond + 1;
}

/**
 * Resolves in a task of its own, after the page had its turn (a frame, an event).
 */
function nextTask(): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, 0));
}

/**
 * The renderer of stdout (JupyterLab's is `RenderedText`, which keeps plain text; stderr
 * stays with `RenderedError`, which also links file paths).
 */
export const chunkedTextFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [STDOUT],
  defaultRank: 110,
  createRenderer: options => new ChunkedText(options)
};
