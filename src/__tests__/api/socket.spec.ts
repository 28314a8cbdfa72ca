/**
 * Unit tests of the events socket: URLs, parsing, reconnection with backoff and
 * resumption, offline/online, disposal. The WebSocket is a fake driven by the test.
 */

import { ServerConnection } from '@jupyterlab/services';

import { IRunEvent, parseRunEvent } from '../../api/runevents';
import { eventsUrl, RunEventSocket } from '../../api/socket';

class FakeSocket {
  static instances: FakeSocket[] = [];

  constructor(public url: string) {
    FakeSocket.instances.push(this);
  }

  readyState = 0;
  closed = false;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;

  /** The server accepts the connection. */
  open(): void {
    this.readyState = 1;
  }

  /** The server sends one message. */
  send(message: unknown): void {
    this.onmessage?.({
      data: typeof message === 'string' ? message : JSON.stringify(message)
    });
  }

  /** The connection ends, from the server or the network. */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  /** Called by the client. */
  close(): void {
    this.readyState = 3;
    this.closed = true;
  }
}

function settings(token = ''): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/base/',
    wsUrl: 'ws://localhost:8888/base/',
    token,
    appendToken: token !== '',
    WebSocket: FakeSocket as unknown as typeof WebSocket
  });
}

function last(): FakeSocket {
  return FakeSocket.instances[FakeSocket.instances.length - 1];
}

function sinceOf(socket: FakeSocket): string | null {
  return new URL(socket.url).searchParams.get('since');
}

const SNAPSHOT = {
  seq: 3,
  type: 'snapshot',
  run: { id: 'r1', status: 'running' },
  outputs: {}
};

describe('eventsUrl', () => {
  it('points at the run under the base URL', () => {
    expect(eventsUrl(settings(), 'r/1', null)).toBe(
      'ws://localhost:8888/base/lapd/api/runs/r%2F1/events'
    );
  });

  it('asks for catch-up snapshots only when told to', () => {
    const url = (catchUp?: boolean) =>
      new URL(eventsUrl(settings(), 'r1', null, catchUp)).searchParams;
    expect(url(true).get('catchup')).toBe('1');
    expect(url(false).has('catchup')).toBe(false);
    expect(url().has('catchup')).toBe(false);
  });

  it('resumes with since and appends the token when asked to', () => {
    const url = new URL(eventsUrl(settings('tok'), 'r1', 42));
    expect(url.searchParams.get('since')).toBe('42');
    expect(url.searchParams.get('token')).toBe('tok');
  });
});

describe('parseRunEvent', () => {
  it('accepts the events of the protocol', () => {
    const event = parseRunEvent(
      '{"seq": 4, "type": "output", "cell_id": "c", "output": {}}'
    );
    expect(event?.type).toBe('output');
    const metadata = parseRunEvent(
      '{"seq": 3, "type": "metadata", "metadata": {"language_info": {"name": "python"}}, "defaults": {}}'
    );
    expect(metadata?.type).toBe('metadata');
  });

  it.each([
    'not json',
    '[]',
    'null',
    '{"type": "output"}',
    '{"seq": "1", "type": "output"}',
    '{"seq": 1.5, "type": "output"}',
    '{"seq": 1, "type": "surprise"}'
  ])('rejects %s', text => {
    expect(parseRunEvent(text)).toBeNull();
  });
});

describe('RunEventSocket', () => {
  let received: IRunEvent[];
  let since: number | null;
  let socket: RunEventSocket;

  beforeEach(() => {
    jest.useFakeTimers();
    FakeSocket.instances = [];
    received = [];
    since = null;
    socket = new RunEventSocket({
      serverSettings: settings(),
      runId: 'r1',
      since: () => since,
      onEvent: event => {
        received.push(event);
        since = event.seq;
      }
    });
  });

  afterEach(() => {
    socket.dispose();
    jest.useRealTimers();
  });

  it('connects at once, without since, and hands over each event', () => {
    expect(FakeSocket.instances).toHaveLength(1);
    expect(sinceOf(last())).toBeNull();
    last().open();
    last().send(SNAPSHOT);
    last().send({
      seq: 4,
      type: 'flushed',
      upto: 3,
      last_modified: '',
      hash: ''
    });
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    last().send('garbage');
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
    expect(received.map(e => e.seq)).toEqual([3, 4]);
    expect(socket.isConnected).toBe(true);
  });

  it("hands over the run's notebook metadata too: no gap in the seqs", () => {
    last().open();
    last().send(SNAPSHOT);
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    last().send({
      seq: 4,
      type: 'metadata',
      metadata: { language_info: { name: 'python' } },
      defaults: { kernelspec: { name: 'python3', display_name: 'Python 3' } }
    });
    last().send({
      seq: 5,
      type: 'flushed',
      upto: 4,
      last_modified: '',
      hash: ''
    });
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
    expect(received.map(e => e.type)).toEqual([
      'snapshot',
      'metadata',
      'flushed'
    ]);
  });

  it('reconnects with backoff, resuming after the last event applied', () => {
    last().open();
    last().send(SNAPSHOT);
    last().drop();

    // 0.5 s, then 1 s, 2 s, ... doubling up to 10 s while connections fail.
    const delays: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) {
      const count = FakeSocket.instances.length;
      let waited = 0;
      while (FakeSocket.instances.length === count) {
        jest.advanceTimersByTime(100);
        waited += 100;
      }
      delays.push(waited);
      expect(sinceOf(last())).toBe('3');
      last().drop();
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);

    // A snapshot resets the backoff.
    jest.advanceTimersByTime(10000);
    last().open();
    last().send({
      seq: 3,
      type: 'snapshot',
      run: SNAPSHOT.run,
      replay_from: 3
    });
    last().drop();
    const count = FakeSocket.instances.length;
    jest.advanceTimersByTime(500);
    expect(FakeSocket.instances.length).toBe(count + 1);
  });

  it('drops the connection when the browser goes offline, and resumes when online', () => {
    last().open();
    last().send(SNAPSHOT);
    const first = last();
    window.dispatchEvent(new Event('offline'));
    expect(first.closed).toBe(true);
    // Whatever the dropped socket still delivers is ignored.
    first.send({ seq: 4, type: 'output', cell_id: 'c', output: {} });
    expect(received).toHaveLength(1);

    window.dispatchEvent(new Event('online'));
    expect(FakeSocket.instances).toHaveLength(2);
    expect(sinceOf(last())).toBe('3');
  });

  it('reconnects at once, from scratch, when asked to', () => {
    last().open();
    last().send(SNAPSHOT);
    since = null;
    socket.reconnect();
    expect(FakeSocket.instances[0].closed).toBe(true);
    expect(FakeSocket.instances).toHaveLength(2);
    expect(sinceOf(last())).toBeNull();
  });

  it('stays closed once disposed, even if the owner disposes it on an event', () => {
    socket.dispose();
    socket = new RunEventSocket({
      serverSettings: settings(),
      runId: 'r1',
      since: () => null,
      onEvent: event => {
        if (event.type === 'run') {
          socket.dispose();
        }
      }
    });
    const current = last();
    current.open();
    current.send({ seq: 9, type: 'run', run: { status: 'completed' } });
    expect(current.closed).toBe(true);
    current.drop(1000);
    jest.advanceTimersByTime(60000);
    window.dispatchEvent(new Event('online'));
    expect(last()).toBe(current);
  });

  it('tells its owner about each closed connection', () => {
    const closes: number[] = [];
    socket.dispose();
    socket = new RunEventSocket({
      serverSettings: settings(),
      runId: 'r1',
      since: () => null,
      onEvent: () => undefined,
      onClose: code => closes.push(code)
    });
    last().drop(1006);
    expect(closes).toEqual([1006]);
    expect(socket.failures).toBe(1);
  });
});
