/// <reference types="node" />
/**
 * The stream text the server saves is the text JupyterLab's own output area keeps.
 *
 * Random stream fragments (text, \r, \b, \n, split anywhere) go into JupyterLab's real
 * `OutputAreaModel`, and the same fragments, as run events, into the server's
 * `OutputModel` (jupyter_lapd.outputs.model, run in the project's Python): the texts
 * must be equal, and the text sent to a page that reattaches mid-run, read by a fresh
 * output area, must take the fragments that follow as the live page took them.
 */

import { execFileSync } from 'child_process';
import { existsSync } from 'fs';
import * as path from 'path';

import { OutputAreaModel } from '@jupyterlab/outputarea';

const PYTHON = [
  process.env.LAPD_PYTHON,
  path.resolve(__dirname, '../../../.venv/bin/python')
].find(candidate => candidate && existsSync(candidate));

/** For each case: the text a page is sent after every fragment, and the text saved. */
const SERVER_SCRIPT = `
import json, sys
from jupyter_lapd.outputs.model import OutputModel

results = []
for fragments in json.load(sys.stdin):
    model = OutputModel()
    model.apply({"type": "cell_start", "cell_id": "c"})
    live = []
    for text in fragments:
        model.apply({"type": "output", "cell_id": "c",
                     "output": {"output_type": "stream", "name": "stdout", "text": text}})
        live.append(model.outputs("c", cursor=True)[0]["text"])
    model.apply({"type": "cell_end", "cell_id": "c", "execution_count": 1})
    results.append({"live": live, "saved": model.outputs("c")[0]["text"]})
json.dump(results, sys.stdout)
`;

interface IServerText {
  live: string[];
  saved: string;
}

function serverTexts(cases: string[][]): IServerText[] {
  if (!PYTHON) {
    throw new Error(
      'no Python with jupyter_lapd: run `make install` or set LAPD_PYTHON'
    );
  }
  const out = execFileSync(PYTHON, ['-c', SERVER_SCRIPT], {
    input: JSON.stringify(cases),
    maxBuffer: 64 * 1024 * 1024
  });
  return JSON.parse(out.toString());
}

/** The stream text JupyterLab's output area shows after these fragments. */
function jupyterlabText(fragments: string[]): string {
  const model = new OutputAreaModel({ trusted: true });
  for (const text of fragments) {
    model.add({ output_type: 'stream', name: 'stdout', text });
  }
  const outputs = model.toJSON();
  model.dispose();
  expect(outputs).toHaveLength(1);
  const text = outputs[0].text as string | string[];
  return Array.isArray(text) ? text.join('') : text;
}

/** A seeded generator, so that a failure names a case that can be run again. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCases(count: number, seed: number): string[][] {
  const next = random(seed);
  const pieces = ['a', 'b', 'xyz', 'Downloading...', '\r', '\n', '\b', '\r\n'];
  const cases: string[][] = [];
  for (let i = 0; i < count; i++) {
    let text = '';
    const length = 1 + Math.floor(next() * 16);
    for (let j = 0; j < length; j++) {
      text += pieces[Math.floor(next() * pieces.length)];
    }
    const fragments: string[] = [];
    let start = 0;
    while (start < text.length) {
      const end = start + 1 + Math.floor(next() * (text.length - start));
      fragments.push(text.slice(start, end));
      start = end;
    }
    cases.push(fragments);
  }
  return cases;
}

const NAMED: string[][] = [
  ['Downloading...\rDone\n'],
  ['10%\r', '50%\r', '100%\n'],
  ['a\r\nb'],
  ['50%\r'],
  ['typo\b\b\bext\n'],
  ['|', '\b/', '\b-', '\b\\'],
  ['abcdef\rab\bX'],
  ['abc\n\b\bd'],
  ['epoch 1 loss 0.53\r', 'epoch 2 loss 0.4\r', 'epoch 3\n']
];

describe('stream text', () => {
  const cases = [...NAMED, ...randomCases(400, 20261206)];
  const server = serverTexts(cases);

  it.each(cases.map((fragments, index) => [index, fragments]))(
    'case %i: the saved text is JupyterLab’s',
    (index, fragments) => {
      expect(JSON.stringify(server[index as number].saved)).toEqual(
        JSON.stringify(jupyterlabText(fragments as string[]))
      );
    }
  );

  it('a page reattaching mid-line continues as the live page does', () => {
    cases.forEach((fragments, index) => {
      for (let cut = 1; cut < fragments.length; cut++) {
        const reattached = [
          server[index].live[cut - 1],
          ...fragments.slice(cut)
        ];
        const message = `case ${index} cut at ${cut}: ${JSON.stringify(fragments)}`;
        expect([message, jupyterlabText(reattached)]).toEqual([
          message,
          jupyterlabText(fragments)
        ]);
      }
    });
  });
});
