/**
 * The runs model tells the user, once, when the server serves no run at all.
 */

import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';

import { RunsModel } from '../../runs/model';

function answering(status: number, body: unknown): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/',
    fetch: (async () =>
      new Response(JSON.stringify(body), {
        status,
        headers: { 'Content-Type': 'application/json' }
      })) as unknown as typeof fetch
  });
}

describe('RunsModel', () => {
  let shown: string[];

  beforeEach(() => {
    shown = [];
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
    jest.spyOn(Notification, 'error').mockImplementation((message: string) => {
      shown.push(message);
      return `${shown.length}`;
    });
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('says once, in a notification, why the server serves no run', async () => {
    const why =
      'jupyter_lapd cannot serve runs: the runs database /x/runs.db cannot be opened: database is locked';
    const model = new RunsModel({
      serverSettings: answering(503, { message: why })
    });
    await model.refresh();
    await model.refresh();
    expect(model.error).toBe(why);
    expect(shown).toEqual([why]);
    model.dispose();
  });

  it('shows other failures in the panel only', async () => {
    const model = new RunsModel({
      serverSettings: answering(500, { message: 'Unhandled error' })
    });
    await model.refresh();
    expect(model.error).toBe('Unhandled error');
    expect(shown).toEqual([]);
    model.dispose();
  });
});
