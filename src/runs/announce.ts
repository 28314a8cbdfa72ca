import { IRun } from '../api/rest';
import { parseJsonObject } from '../api/json';
import { isActive, isFinal, parseTime } from './format';

/**
 * What this browser knows about run ends it has announced, kept between page loads.
 *
 * A run's end is announced when the run is final, has not been announced yet, and
 * either this browser saw it active or it finished after `watermark`, the newest
 * `finished` time of the runs that were already final when this browser last listed
 * them. Comparing server times with server times keeps a skewed browser clock out of it.
 */
export interface IAnnounceLedger {
  /** Newest `finished` (ISO 8601, server time) among final runs seen; null: none yet. */
  watermark: string | null;
  /** Ids of runs this browser saw queued or running and whose end it has not announced. */
  active: string[];
  /** Ids of runs whose end has been announced. */
  announced: string[];
}

/**
 * The outcome of comparing a run listing with the ledger.
 */
export interface IAnnouncePlan {
  /** Runs to announce one by one, newest end first (at most `max`). */
  announce: IRun[];
  /** Further ended runs, beyond `max`, to mention together. */
  more: IRun[];
  /** The ledger to keep, recording all of the above as announced. */
  ledger: IAnnounceLedger;
}

/**
 * Decide which run ends to announce, given the previous ledger and a fresh listing.
 *
 * With no ledger (this browser never listed runs), nothing is announced: the runs that
 * ended before are history, not news. Ids of runs no longer listed are dropped from
 * the ledger, so it stays as small as the server's history.
 *
 * @param ledger The ledger from the previous listing, or null on first use.
 * @param runs Every run the server lists (unfiltered), newest first.
 * @param max How many ends to announce one by one; the rest go to `more`.
 */
export function planAnnouncements(
  ledger: IAnnounceLedger | null,
  runs: readonly IRun[],
  max: number
): IAnnouncePlan {
  const listed = new Set(runs.map(run => run.id));
  if (ledger === null) {
    return {
      announce: [],
      more: [],
      ledger: {
        watermark: newestFinished(runs, null),
        active: runs.filter(isActive).map(run => run.id),
        announced: []
      }
    };
  }

  const seenActive = new Set(ledger.active);
  const announced = new Set(ledger.announced);
  const watermark = parseTime(ledger.watermark);
  const ended = runs.filter(run => {
    if (!isFinal(run) || announced.has(run.id)) {
      return false;
    }
    if (seenActive.has(run.id)) {
      return true;
    }
    const finished = parseTime(run.finished);
    return watermark === null || (finished !== null && finished > watermark);
  });
  ended.sort(
    (a, b) => (parseTime(b.finished) ?? 0) - (parseTime(a.finished) ?? 0)
  );

  for (const run of ended) {
    announced.add(run.id);
  }
  return {
    announce: ended.slice(0, Math.max(0, max)),
    more: ended.slice(Math.max(0, max)),
    ledger: {
      watermark: newestFinished(runs, ledger.watermark),
      active: runs.filter(isActive).map(run => run.id),
      announced: [...announced].filter(id => listed.has(id))
    }
  };
}

/**
 * Read a ledger written by `JSON.stringify`, or null when it is missing or malformed.
 */
export function parseLedger(text: string | null): IAnnounceLedger | null {
  if (text === null) {
    return null;
  }
  const data = parseJsonObject(text);
  if (data === null) {
    return null;
  }
  const { watermark, active, announced } = data;
  if (
    (watermark !== null && typeof watermark !== 'string') ||
    !isStringArray(active) ||
    !isStringArray(announced)
  ) {
    return null;
  }
  return { watermark, active, announced };
}

/**
 * Where a ledger is kept.
 */
export interface ILedgerStore {
  load(): IAnnounceLedger | null;
  save(ledger: IAnnounceLedger): void;
}

/**
 * A ledger in the browser's localStorage, one per server (keyed by its base URL).
 *
 * localStorage rather than IStateDB: announcements are per browser, and IStateDB is
 * the workspace saved on the server, shared by every browser using that workspace and
 * saved asynchronously (a tab closed right after an announcement could announce again).
 * localStorage is synchronous and shared by the browser's tabs, so a read, plan and
 * write in one task keeps two open tabs from announcing the same end twice.
 * Without localStorage (disabled, private mode) the ledger lives in memory for the page.
 */
export class LocalStorageLedger implements ILedgerStore {
  constructor(baseUrl: string) {
    this._key = `jupyter-lapd:announced:${baseUrl}`;
  }

  load(): IAnnounceLedger | null {
    try {
      return parseLedger(window.localStorage.getItem(this._key));
    } catch {
      return this._memory;
    }
  }

  save(ledger: IAnnounceLedger): void {
    this._memory = ledger;
    try {
      window.localStorage.setItem(this._key, JSON.stringify(ledger));
    } catch (reason) {
      console.warn('jupyter_lapd: cannot keep announced runs', reason);
    }
  }

  private _key: string;
  private _memory: IAnnounceLedger | null = null;
}

function newestFinished(
  runs: readonly IRun[],
  previous: string | null
): string | null {
  let best = previous;
  let bestMs = parseTime(previous);
  for (const run of runs) {
    const ms = isFinal(run) ? parseTime(run.finished) : null;
    if (ms !== null && (bestMs === null || ms > bestMs)) {
      best = run.finished;
      bestMs = ms;
    }
  }
  return best;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(item => typeof item === 'string');
}
