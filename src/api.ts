import { URLExt } from '@jupyterlab/coreutils';

import type * as nbformat from '@jupyterlab/nbformat';

import { ServerConnection } from '@jupyterlab/services';

import { IDisposable } from '@lumino/disposable';

/**
 * The REST namespace of the jupyter_lapd server extension, under the server's base URL.
 */
export const API_NAMESPACE = 'lapd/api';

/**
 * Lifecycle of a run, as the server reports it.
 *
 * `failed`: a cell raised and later cells did not run; `interrupted`: the server or
 * the kernel died mid-run.
 */
export type RunStatus =
  'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

/**
 * State of one cell within a run.
 */
export type CellStatus = 'queued' | 'running' | 'done' | 'error' | 'skipped';

/**
 * Where a run executes: the notebook's own session kernel, or a fresh kernel.
 */
export type KernelMode = 'session' | 'new';

/**
 * One cell of a run, matched to the notebook by its nbformat cell id.
 */
export interface ICellState {
  id: string;
  status: CellStatus;
  execution_count: number | null;
  /** ISO 8601 UTC. */
  started: string | null;
  /** ISO 8601 UTC. */
  finished: string | null;
}

/**
 * A run as the server serializes it.
 *
 * `cells` is present on `GET /lapd/api/runs/<id>` and may be omitted in listings.
 */
export interface IRun {
  id: string;
  path: string;
  status: RunStatus;
  kernel_mode: KernelMode;
  kernel_id: string | null;
  kernel_name: string | null;
  allow_errors?: boolean;
  /** ISO 8601 UTC. */
  created: string;
  /** ISO 8601 UTC. */
  started: string | null;
  /** ISO 8601 UTC. */
  finished: string | null;
  cells_total: number;
  cells_done: number;
  current_cell_id: string | null;
  error: string | null;
  cells?: ICellState[];
}

/**
 * The body of `POST /lapd/api/runs`.
 */
export interface IStartRunRequest {
  /** Notebook path relative to the server root, e.g. `dir/nb.ipynb`. */
  path: string;
  /** Cell ids to run, in order; omit to run all code cells. */
  cells?: string[];
  kernel?: KernelMode;
  kernel_name?: string;
  allow_errors?: boolean;
}

/**
 * Filters of `GET /lapd/api/runs`.
 */
export interface IListRunsQuery {
  path?: string;
  status?: RunStatus[];
}

/**
 * The answer of `GET /lapd/api/runs`, newest first.
 */
export interface IRunList {
  runs: IRun[];
}

/**
 * Whether a run is still queued or running.
 */
export function isRunActive(status: RunStatus): boolean {
  return status === 'queued' || status === 'running';
}

/**
 * The timing keys JupyterLab records in a cell's `metadata.execution`.
 */
export type ExecutionTiming = { [key: string]: string };

/**
 * The file as a `flushed` event describes it: it holds every event up to `upto`.
 */
export interface IFlushState {
  upto: number;
  /** ISO 8601 UTC, as the contents API reports it. */
  last_modified: string;
  /**
   * sha256 of the file, as the contents API reports it; null when the server did not
   * write the file itself (`destination`).
   */
  hash: string | null;
  /**
   * Where the server put the events: absent or `file` for the file on disk;
   * `shared_document` for the collaborative document of a room that has the notebook
   * open (the room saves the file).
   */
  destination?: string;
}

/**
 * The first message of every events socket.
 *
 * Without `since`, `outputs` holds each started cell's outputs as the file will hold
 * them, as of `seq`. With `since`, `replay_from` is set and `outputs` is absent: the
 * events after `replay_from` follow.
 *
 * `flushed`, `execution`, `displays` and `clear_pending` are optional: servers that
 * send them let a client that attaches mid-run match the file's hash at once, show the
 * timings of cells finished since it loaded the file, apply display updates to outputs
 * shown before it attached, and honour a `clear_output(wait=True)` still pending.
 */
export interface ISnapshotEvent {
  seq: number;
  type: 'snapshot';
  run: IRun;
  outputs?: { [cellId: string]: nbformat.IOutput[] };
  replay_from?: number;
  flushed?: IFlushState | null;
  execution?: { [cellId: string]: ExecutionTiming };
  /** display id -> cell id -> indices of that cell's outputs showing it. */
  displays?: { [displayId: string]: { [cellId: string]: number[] } };
  clear_pending?: string[];
}

/**
 * A change of the run's status or kernel (the run comes without `cells`).
 */
export interface IRunChangedEvent {
  seq: number;
  type: 'run';
  run: IRun;
}

/**
 * A cell starts: its outputs, execution count and timings are cleared.
 */
export interface ICellStartEvent {
  seq: number;
  type: 'cell_start';
  cell_id: string;
  started: string;
}

/**
 * One output; stream outputs are fragments, merged as JupyterLab merges them.
 */
export interface IOutputEvent {
  seq: number;
  type: 'output';
  cell_id: string;
  output: nbformat.IOutput;
  display_id?: string;
}

/**
 * `clear_output`; with `wait`, the clear happens at the cell's next output.
 */
export interface IClearOutputEvent {
  seq: number;
  type: 'clear_output';
  cell_id: string;
  wait: boolean;
}

/**
 * Every output showing `display_id`, in any cell, takes `output`'s data and metadata.
 */
export interface IUpdateDisplayEvent {
  seq: number;
  type: 'update_display';
  cell_id: string;
  display_id: string;
  output: {
    output_type?: string;
    data: nbformat.IMimeBundle;
    metadata: nbformat.OutputMetadata;
  };
}

/**
 * A cell ends, with the kernel's execution count and JupyterLab's timing metadata.
 */
export interface ICellEndEvent {
  seq: number;
  type: 'cell_end';
  cell_id: string;
  status: CellStatus;
  execution_count: number | null;
  execution: ExecutionTiming;
  finished: string | null;
}

/**
 * The file on disk now holds every event up to `upto`.
 */
export interface IFlushedEvent extends IFlushState {
  seq: number;
  type: 'flushed';
}

/**
 * A message of the events socket.
 */
export type IRunEvent =
  | ISnapshotEvent
  | IRunChangedEvent
  | ICellStartEvent
  | IOutputEvent
  | IClearOutputEvent
  | IUpdateDisplayEvent
  | ICellEndEvent
  | IFlushedEvent;

const EVENT_TYPES: ReadonlySet<string> = new Set([
  'snapshot',
  'run',
  'cell_start',
  'output',
  'clear_output',
  'update_display',
  'cell_end',
  'flushed'
]);

/**
 * Parse one message of the events socket; null if it is not a known event.
 *
 * Only the envelope (`seq`, `type`) is checked: the fields of each type are the
 * server's contract (docs/rest-api.md).
 */
export function parseRunEvent(text: string): IRunEvent | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const { seq, type } = data as { seq?: unknown; type?: unknown };
  if (
    typeof seq !== 'number' ||
    !Number.isInteger(seq) ||
    typeof type !== 'string' ||
    !EVENT_TYPES.has(type)
  ) {
    return null;
  }
  return data as IRunEvent;
}

/**
 * Call the jupyter_lapd REST API.
 *
 * Failures raise `ServerConnection.NetworkError` (no answer) or
 * `ServerConnection.ResponseError` whose `message` is the server's `{"message"}`
 * and whose `response.status` is the HTTP status.
 *
 * @param endPoint Path under `lapd/api`, e.g. `runs` or `runs/<id>/cancel`.
 * @param serverSettings Use `app.serviceManager.serverSettings`.
 * @param init Request options; a string body is sent as JSON.
 * @returns The parsed JSON answer.
 */
export async function requestAPI<T>(
  endPoint: string,
  serverSettings: ServerConnection.ISettings,
  init: RequestInit = {}
): Promise<T> {
  const url = URLExt.join(serverSettings.baseUrl, API_NAMESPACE, endPoint);
  const headers = new Headers(init.headers);
  if (typeof init.body === 'string' && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  // makeRequest raises ServerConnection.NetworkError itself when there is no answer.
  const response = await ServerConnection.makeRequest(
    url,
    { ...init, headers },
    serverSettings
  );

  const text = await response.text();
  let data: unknown = undefined;
  let parsed = text.length > 0;
  if (parsed) {
    try {
      data = JSON.parse(text);
    } catch {
      parsed = false;
    }
  }

  if (!response.ok || !parsed) {
    // Every answer of the API is JSON. Without a JSON `message` (e.g. the HTML 404
    // page when the server extension is missing), ResponseError says
    // "Invalid response: <status> <statusText>".
    throw new ServerConnection.ResponseError(
      response,
      stringField(data, 'message'),
      stringField(data, 'traceback')
    );
  }
  return data as T;
}

/**
 * List runs, newest first.
 */
export async function listRuns(
  serverSettings: ServerConnection.ISettings,
  query: IListRunsQuery = {}
): Promise<IRun[]> {
  const params: { [key: string]: string } = {};
  if (query.path !== undefined) {
    params.path = query.path;
  }
  if (query.status !== undefined && query.status.length > 0) {
    params.status = query.status.join(',');
  }
  const search =
    Object.keys(params).length > 0 ? URLExt.objectToQueryString(params) : '';
  const answer = await requestAPI<IRunList>(`runs${search}`, serverSettings);
  return answer.runs;
}

/**
 * Get one run, with its cells.
 */
export function getRun(
  serverSettings: ServerConnection.ISettings,
  runId: string
): Promise<IRun> {
  return requestAPI<IRun>(`runs/${encodeURIComponent(runId)}`, serverSettings);
}

/**
 * Start a run; the server answers 201 with the new run (queued or running).
 */
export function startRun(
  serverSettings: ServerConnection.ISettings,
  request: IStartRunRequest
): Promise<IRun> {
  return requestAPI<IRun>('runs', serverSettings, {
    method: 'POST',
    body: JSON.stringify(request)
  });
}

/**
 * Ask the server to cancel a run; it answers 202 with the run.
 */
export function cancelRun(
  serverSettings: ServerConnection.ISettings,
  runId: string
): Promise<IRun> {
  return requestAPI<IRun>(
    `runs/${encodeURIComponent(runId)}/cancel`,
    serverSettings,
    { method: 'POST' }
  );
}

/**
 * The URL of a run's events socket; with `since`, the server replays what followed it.
 */
export function eventsUrl(
  serverSettings: ServerConnection.ISettings,
  runId: string,
  since: number | null
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
      eventsUrl(serverSettings, runId, this._options.since())
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
    /** Every event, in the order the server sent it. */
    onEvent: (event: IRunEvent) => void;
    /** A connection closed (before a reconnection is scheduled), with its close code. */
    onClose?: (code: number) => void;
    minDelay?: number;
    maxDelay?: number;
  }
}

/**
 * A string field of a parsed JSON object, if it has one.
 */
function stringField(data: unknown, key: string): string | undefined {
  if (typeof data === 'object' && data !== null && key in data) {
    const value = (data as { [key: string]: unknown })[key];
    if (typeof value === 'string') {
      return value;
    }
  }
  return undefined;
}
