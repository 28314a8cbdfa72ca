/**
 * Unit tests of the REST client: URLs, bodies and error mapping, against a fake fetch.
 */

import { ServerConnection } from '@jupyterlab/services';

import { cancelRun, getRun, listRuns, startRun } from '../../api/rest';
import { makeRun } from '../fixtures';

interface ISentRequest {
  url: string;
  method: string;
  body: string;
  contentType: string | null;
}

const RUN = makeRun({
  id: 'abc123',
  path: 'dir/nb.ipynb',
  cells_done: 1,
  current_cell_id: 'c2'
});

const STATUS_TEXT: { [status: number]: string } = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  404: 'Not Found',
  409: 'Conflict'
};

/**
 * Server settings whose fetch records each request and answers `status` + `body`.
 */
function fakeServer(
  status: number,
  body: string
): { settings: ServerConnection.ISettings; sent: ISentRequest[] } {
  const sent: ISentRequest[] = [];
  const fetch = async (input: RequestInfo | URL): Promise<Response> => {
    const request = input as Request;
    sent.push({
      url: request.url,
      method: request.method,
      body: await request.text(),
      contentType: request.headers.get('Content-Type')
    });
    return new Response(body, {
      status,
      statusText: STATUS_TEXT[status] ?? '',
      headers: { 'Content-Type': 'application/json' }
    });
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/base/',
    wsUrl: 'ws://localhost:8888/base/',
    token: 'secret',
    appendToken: false,
    fetch,
    Request,
    Headers
  });
  return { settings, sent };
}

describe('jupyter-lapd api', () => {
  it('lists runs with path and status filters', async () => {
    const { settings, sent } = fakeServer(200, JSON.stringify({ runs: [RUN] }));
    const runs = await listRuns(settings, {
      path: 'dir/nb.ipynb',
      status: ['running', 'queued']
    });
    expect(runs).toEqual([RUN]);
    expect(sent).toHaveLength(1);
    const url = new URL(sent[0].url);
    expect(url.pathname).toBe('/base/lapd/api/runs');
    expect(url.searchParams.get('path')).toBe('dir/nb.ipynb');
    expect(url.searchParams.get('status')).toBe('running,queued');
    expect(sent[0].method).toBe('GET');
  });

  it('lists runs without filters when none is given', async () => {
    const { settings, sent } = fakeServer(200, JSON.stringify({ runs: [] }));
    await listRuns(settings);
    const url = new URL(sent[0].url);
    expect(url.pathname).toBe('/base/lapd/api/runs');
    expect(url.searchParams.has('path')).toBe(false);
    expect(url.searchParams.has('status')).toBe(false);
  });

  it('posts a JSON body to start a run', async () => {
    const { settings, sent } = fakeServer(201, JSON.stringify(RUN));
    const run = await startRun(settings, {
      path: 'dir/nb.ipynb',
      cells: ['c1', 'c2'],
      kernel: 'new'
    });
    expect(run.id).toBe('abc123');
    expect(sent[0].method).toBe('POST');
    expect(sent[0].contentType).toBe('application/json');
    expect(JSON.parse(sent[0].body)).toEqual({
      path: 'dir/nb.ipynb',
      cells: ['c1', 'c2'],
      kernel: 'new'
    });
  });

  it('gets one run by id', async () => {
    const { settings, sent } = fakeServer(200, JSON.stringify(RUN));
    expect(await getRun(settings, 'abc123')).toEqual(RUN);
    expect(new URL(sent[0].url).pathname).toBe('/base/lapd/api/runs/abc123');
  });

  it('escapes run ids in paths', async () => {
    const { settings, sent } = fakeServer(202, JSON.stringify(RUN));
    await cancelRun(settings, 'a/b');
    expect(new URL(sent[0].url).pathname).toBe(
      '/base/lapd/api/runs/a%2Fb/cancel'
    );
    expect(sent[0].method).toBe('POST');
  });

  it("raises a ResponseError carrying the server's message", async () => {
    const { settings } = fakeServer(
      409,
      JSON.stringify({ message: 'a run is already active on dir/nb.ipynb' })
    );
    const failure = startRun(settings, { path: 'dir/nb.ipynb' });
    await expect(failure).rejects.toBeInstanceOf(
      ServerConnection.ResponseError
    );
    await expect(failure).rejects.toMatchObject({
      message: 'a run is already active on dir/nb.ipynb',
      response: { status: 409 }
    });
  });

  it('raises a short ResponseError on a non-JSON error body', async () => {
    // What a server without the extension answers: tornado's HTML 404 page.
    const { settings } = fakeServer(404, '<html><body>404</body></html>');
    await expect(getRun(settings, 'missing')).rejects.toMatchObject({
      message: 'Invalid response: 404 Not Found',
      response: { status: 404 }
    });
  });

  it('raises a ResponseError when a success is not JSON', async () => {
    const { settings } = fakeServer(200, '<html></html>');
    await expect(listRuns(settings)).rejects.toMatchObject({
      message: 'Invalid response: 200 OK'
    });
  });
});
