import { URLExt } from '@jupyterlab/coreutils';

import { ServerConnection } from '@jupyterlab/services';

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
  /** The run this one resumes (a rerun after a server restart, a headless --resume). */
  resumed_from?: string | null;
  /** Cells a resumed run reran first to rebuild the kernel's state (setup cells). */
  setup_cells?: string[];
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
