"""What ``make bench-ui`` installs in the page to measure it from inside: long tasks, the
frame that first shows the last line, the JS heap (no round trip to the bench is timed)."""

# The page's JS heap, after two forced garbage collections.
HEAP = "() => { gc(); gc(); return performance.memory.usedJSHeapSize; }"

# Installed in every page before JupyterLab loads: the measures live in the page, so that
# no round trip to this process is timed.
PAGE_PROBE = """
(() => {
  const bench = (window.__bench = { longtasks: [], t0: null, shown: null, marker: null });
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      bench.longtasks.push([entry.startTime, entry.duration]);
    }
  }).observe({ type: 'longtask', buffered: true });
  // Where a scenario says (reopen): t0 is when the page first asks for the notebook.
  bench.t0Resource = null;
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      if (bench.t0 === null && bench.t0Resource !== null && entry.name.includes(bench.t0Resource)) {
        bench.t0 = entry.startTime;
      }
    }
  }).observe({ type: 'resource', buffered: true });
  // The text of the last output node of the notebook's last code cell: the tail of the
  // rendered stream (or of the one frame an animation shows).
  const tail = () => {
    const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
    const cell = cells[cells.length - 1];
    const children = cell ? cell.querySelectorAll('.jp-OutputArea-child') : [];
    const child = children[children.length - 1];
    const pre = child && child.querySelector('pre');
    // the last nodes' text only: the whole text of a huge output is costly to join
    let text = '';
    for (let node = pre && pre.lastChild; node && text.length < 400; node = node.previousSibling) {
      text = (node.textContent || '') + text;
    }
    return text.slice(-400);
  };
  bench.tail = tail;
  // the same for the notebook model, where a scenario says (reopen): data in before shown
  bench.inModel = null;
  bench.modelMarker = null;
  const check = () => {
    if (bench.shown === null && bench.marker !== null && bench.marker()) {
      bench.shown = performance.now();
    }
    if (bench.inModel === null && bench.modelMarker !== null && bench.modelMarker()) {
      bench.inModel = performance.now();
    }
  };
  // Checked at every frame, before it is painted: what the user sees next.
  const frame = () => {
    check();
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
"""
