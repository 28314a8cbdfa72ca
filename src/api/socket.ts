import { URLExt } from '@jupyterlab/coreutils';

import { ServerConnection } from '@jupyterlab/services';

import { IDisposable } from '@lumino/disposable';

import { API_NAMESPACE } from './rest';
import { IRunEvent, parseRunEvent } from './runevents';

/**
 * The URL of a run's events socket; with `since`, the server replays what followed it.
 * With `catchUp`, a connection that falls behind the run gets a snapshot of the cells
 * it missed events of instead of those events (`?catchup=1`): what a page busy
 * rendering a flood of output would only have shown for a frame, it never receives.
 */
export function eventsUrl(
  serverSettings: ServerConnection.ISettings,
  runId: string,
  since: number | null,
  catchUp = false
): string {
  const url = URLExt.join(
    serverSettings.wsUrl,
    API_NAMESPACE,
    'runs',
    encodeURIComponent(runId),
    'events'
  );
  const params: { [key: string]: string } = {};
  if (since !== null) {
    params.since = String(since);
  }
  if (catchUp) {
    params.catchup = '1';
  }
  if (serverSettings.appendToken && serverSettings.token !== '') {
    params.token = serverSettings.token;
  }
  return Object.keys(params).length > 0
    ? url + URLExt.objectToQueryString(params)
    : url;
}

/**
 * A run's events socket that reconnects after a drop and resumes where it left off.
 *
 * Each connection asks `since()` where to resume: `null` for a full snapshot, or the
 * seq of the last event applied, so that the server replays exactly what was missed.
 * A dropped connection is retried with exponential backoff (`minDelay` doubling up to
 * `maxDelay`), reset once a snapshot arrives; the browser going offline drops the
 * connection at once (Chromium keeps sockets open while offline) and coming back
 * online reconnects at once. The owner disposes the socket once the run has ended.
 */
export class RunEventSocket implements IDisposable {
  constructor(options: RunEventSocket.IOptions) {
    this._options = options;
    this._minDelay = options.minDelay ?? RunEventSocket.MIN_DELAY;
    this._maxDelay = options.maxDelay ?? RunEventSocket.MAX_DELAY;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this._onOnline);
      window.addEventListener('offline', this._onOffline);
    }
    this._connect();
  }

  /**
   * The run whose events this socket carries.
   */
  get runId(): string {
    return this._options.runId;
  }

  /**
   * Whether a connection is open.
   */
  get isConnected(): boolean {
    return this._socket !== null && this._socket.readyState === 1;
  }

  /**
   * How many connections failed in a row since the last snapshot.
   */
  get failures(): number {
    return this._failures;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Drop the current connection, if any, and connect again now.
   */
  reconnect(): void {
    if (this._isDisposed) {
      return;
    }
    this._failures = 0;
    this._drop();
    this._clearTimer();
    this._connect();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._clearTimer();
    this._drop();
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this._onOnline);
      window.removeEventListener('offline', this._onOffline);
    }
  }

  private _connect(): void {
    const { serverSettings, runId } = this._options;
    const socket = new serverSettings.WebSocket(
      eventsUrl(
        serverSettings,
        runId,
        this._options.since(),
        this._options.catchUp ?? false
      )
    );
    this._socket = socket;
    socket.onmessage = (message: MessageEvent) => {
      if (this._socket !== socket) {
        return;
      }
      const event =
        typeof message.data === 'string' ? parseRunEvent(message.data) : null;
      if (event === null) {
        console.warn('jupyter_lapd: ignoring an unknown event', message.data);
        return;
      }
      if (event.type === 'snapshot') {
        this._failures = 0;
      }
      try {
        this._options.onEvent(event);
      } catch (reason) {
        console.error('jupyter_lapd: could not apply event', event, reason);
      }
    };
    socket.onclose = (close: CloseEvent) => {
      if (this._socket !== socket) {
        return;
      }
      this._socket = null;
      this._failures += 1;
      this._options.onClose?.(close.code);
      // onClose may have disposed of the socket (the run has ended).
      if (!this._isDisposed) {
        this._schedule();
      }
    };
  }

  private _schedule(): void {
    const delay = Math.min(
      this._maxDelay,
      this._minDelay * 2 ** Math.max(0, this._failures - 1)
    );
    this._clearTimer();
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this._isDisposed) {
        this._connect();
      }
    }, delay);
  }

  private _drop(): void {
    const socket = this._socket;
    this._socket = null;
    if (socket !== null) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.close();
    }
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _onOnline = (): void => {
    this.reconnect();
  };

  private _onOffline = (): void => {
    if (this._socket !== null && !this._isDisposed) {
      this._drop();
      this._failures += 1;
      this._schedule();
    }
  };

  private _options: RunEventSocket.IOptions;
  private _minDelay: number;
  private _maxDelay: number;
  private _socket: WebSocket | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _failures = 0;
  private _isDisposed = false;
}

/**
 * The namespace for `RunEventSocket` statics.
 */
export namespace RunEventSocket {
  /** First reconnection delay, in milliseconds. */
  export const MIN_DELAY = 500;
  /** Longest reconnection delay, in milliseconds. */
  export const MAX_DELAY = 10000;

  export interface IOptions {
    /** Use `app.serviceManager.serverSettings`; its `WebSocket` opens the socket. */
    serverSettings: ServerConnection.ISettings;
    runId: string;
    /** Where to resume at each connection: null for a full snapshot. */
    since: () => number | null;
    /**
     * Whether the server may send a snapshot of the cells whose events this socket fell
     * behind on, in place of those events (`eventsUrl`). Default: false.
     */
    catchUp?: boolean;
    /** Every event, in the order the server sent it. */
    onEvent: (event: IRunEvent) => void;
    /** A connection closed (before a reconnection is scheduled), with its close code. */
    onClose?: (code: number) => void;
    minDelay?: number;
    maxDelay?: number;
  }
}
