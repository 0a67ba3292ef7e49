/**
 * The dashboard's request handler: the page, its JSON API, roll-up downloads and
 * /metrics. Read-only by construction: only GET and HEAD are answered (anything else
 * is 405), and no route writes to the database, the files or the heat pump.
 *
 * The handler is a plain `(Request) => Promise<Response>`, so tests call it directly;
 * server.ts only binds it to a socket.
 */
import type { Config } from "../config.ts";
import { formatTimestamp } from "../csvgen.ts";
import type { Logger } from "../log.ts";
import type { Storage, StoredPoll } from "../storage.ts";
import {
  decodeColumn,
  decodeFields,
  errorMemory,
  fieldId,
  findColumn,
  headlineFields,
  numericValue,
} from "./fields.ts";
import { isRollupKind, listRollupFiles, type RollupDirs, rollupFilePath } from "./files.ts";
import { databaseBytes, diskUsage } from "./health.ts";
import { formatMetrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import { fieldSeries } from "./series.ts";
import { isStaticPath, staticAsset } from "./static.ts";

export interface DashboardContext {
  storage: Pick<Storage, "polls" | "gaps" | "lastPollTs" | "countPolls">;
  config: Pick<Config, "timeZone" | "dailyDir" | "weeklyDir" | "cachePath" | "intervalSec">;
  logger: Logger;
  /** The clock, epoch ms; tests pass a fixed one. */
  now?: () => number;
  /** Aborted when the dashboard closes for good: downloads still running are cut off. */
  closing?: AbortSignal;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
export const DEFAULT_SERIES_RANGE_MS = DAY_MS;
export const DEFAULT_GAPS_RANGE_MS = 30 * DAY_MS;
export const DEFAULT_POINTS = 1000;
export const MAX_POINTS = 10_000;
/** The largest epoch-ms instant a Date (and Temporal.Instant) can hold: year 275760. */
const MAX_INSTANT_MS = 8.64e15;
/**
 * Counting every stored poll scans the whole table (over a second for a year of 30-second
 * polls), so /metrics and /api/health count at most once per this many ms.
 */
export const COUNTS_MAX_AGE_MS = 60_000;
/** The last poll counts as stale when it is older than this many poll intervals. */
const STALE_INTERVALS = 3;
const ALLOWED_METHODS = "GET, HEAD";

/** A request we refuse, with the status and a message that says what was wrong. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...SECURITY_HEADERS,
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

/** An instant parameter: epoch milliseconds or ISO 8601 with offset; `fallback` if absent. */
export function parseInstantParam(name: string, value: string | null, fallback: number): number {
  if (value === null || value === "") return fallback;
  if (/^-?\d+$/.test(value)) {
    const ms = Number(value);
    if (Math.abs(ms) <= MAX_INSTANT_MS) return ms;
    throw new HttpError(
      400,
      `${name}=${value} is outside the range of dates (±${MAX_INSTANT_MS} ms)`,
    );
  }
  try {
    return Temporal.Instant.from(value).epochMilliseconds;
  } catch {
    throw new HttpError(
      400,
      `${name}=${
        JSON.stringify(value)
      } is not an instant: use epoch milliseconds or ISO 8601 with offset (2026-03-29T07:00:00+02:00)`,
    );
  }
}

/** The `from`/`to` pair of a request, `to` defaulting to now and `from` to `to - span`. */
export function parseRange(params: URLSearchParams, now: number, defaultSpanMs: number) {
  const to = parseInstantParam("to", params.get("to"), now);
  const from = parseInstantParam("from", params.get("from"), to - defaultSpanMs);
  if (!(from < to)) throw new HttpError(400, "from must be before to");
  return { from, to };
}

export function parsePoints(value: string | null): number {
  if (value === null || value === "") return DEFAULT_POINTS;
  const points = Number(value);
  if (!/^\d+$/.test(value) || points < 1 || points > MAX_POINTS) {
    throw new HttpError(400, `points must be a whole number from 1 to ${MAX_POINTS}`);
  }
  return points;
}

/** `compute()`, remembered for `maxAgeMs` of `clock` time. */
export function remembered<T>(maxAgeMs: number, clock: () => number, compute: () => T): () => T {
  let value: T;
  let at = -Infinity;
  return () => {
    const now = clock();
    if (now - at >= maxAgeMs) {
      value = compute();
      at = now;
    }
    return value;
  };
}

/**
 * The download header for file `name`. Header values are bytes, so a name beyond ASCII
 * (a user's "Bericht €.csv") goes in `filename*` (RFC 6266), with an ASCII stand-in.
 */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  if (ascii === name) return `attachment; filename="${name}"`;
  const encoded = encodeURIComponent(name).replace(
    /['()*!]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * `body`, ended early once `signal` aborts, so a client that downloads slowly (or stopped
 * reading) cannot keep the service from stopping. The client sees fewer bytes than
 * content-length said: an incomplete download, not a wrong one.
 */
export function cutOffWhen(
  signal: AbortSignal | undefined,
  body: ReadableStream<Uint8Array<ArrayBuffer>>,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  if (!signal) return body;
  const reader = body.getReader();
  let cutOff = () => {};
  const release = () => signal.removeEventListener("abort", cutOff);
  return new ReadableStream({
    start(controller) {
      cutOff = () => {
        controller.close();
        reader.cancel().catch(() => {});
      };
      if (signal.aborted) cutOff();
      else signal.addEventListener("abort", cutOff, { once: true });
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (!done) return controller.enqueue(value);
        release();
        controller.close();
      } catch (error) {
        release();
        // Already closed by cutOff(): nothing more to say.
        if (!signal.aborted) controller.error(error);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
}

export function createDashboardHandler(
  context: DashboardContext,
): (req: Request) => Promise<Response> {
  const { storage, config, logger } = context;
  const now = context.now ?? Date.now;
  const decodeOptions = { timeZone: config.timeZone };
  const dirs: RollupDirs = { daily: config.dailyDir, weekly: config.weeklyDir };
  const time = (ts: number) => formatTimestamp(ts, config.timeZone);
  const counts = remembered(COUNTS_MAX_AGE_MS, now, () => ({
    polls: storage.countPolls(),
    gaps: storage.gaps(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER).length,
  }));

  const latestPoll = (): StoredPoll | null => {
    const ts = storage.lastPollTs();
    if (ts === null) return null;
    // for…of (not .next()) so the generator closes and SQLite resets its statement.
    for (const poll of storage.polls(ts, ts + 1)) return poll;
    return null;
  };

  const routes: Record<string, (params: URLSearchParams) => Response | Promise<Response>> = {
    "/api/current": () => {
      const poll = latestPoll();
      if (!poll) return json({ ts: null, time: null, headline: [], errors: [], fields: [] });
      const fields = decodeFields(poll, decodeOptions);
      return json({
        ts: poll.ts,
        time: time(poll.ts),
        ageSec: Math.max(0, Math.round((now() - poll.ts) / 1000)),
        headline: headlineFields(fields),
        errors: errorMemory(poll, decodeOptions),
        fields,
      });
    },
    "/api/series": async (params) => {
      const field = params.get("field");
      if (!field) {
        throw new HttpError(
          400,
          "field is required, e.g. field=calculations.ID_WEB_Temperatur_TVL",
        );
      }
      const { from, to } = parseRange(params, now(), DEFAULT_SERIES_RANGE_MS);
      const points = parsePoints(params.get("points"));
      const poll = latestPoll();
      if (!poll) throw new HttpError(404, "no poll stored yet: fields are known after the first");
      const column = findColumn(poll, field);
      if (!column) {
        throw new HttpError(404, `unknown field ${JSON.stringify(field)}; /api/current lists them`);
      }
      // Judged by the newest value, as /api/current's `numeric` flag is (missing: allowed).
      const newest = decodeColumn(poll, column, decodeOptions);
      if (newest !== null && numericValue(newest) === null) {
        throw new HttpError(
          400,
          `${fieldId(column)} is not numeric (its values are text); chart a numeric field`,
        );
      }
      const series = await fieldSeries(storage, column, { from, to, points }, decodeOptions);
      return json({
        field: fieldId(column),
        name: column.name,
        unit: column.unit,
        from,
        to,
        points,
        ...series,
      });
    },
    "/api/gaps": (params) => {
      const { from, to } = parseRange(params, now(), DEFAULT_GAPS_RANGE_MS);
      const gaps = storage.gaps(from, to).map((gap) => ({ ...gap, time: time(gap.ts) }));
      return json({ from, to, gaps });
    },
    "/api/files": async () => {
      const [daily, weekly] = await Promise.all([
        listRollupFiles(dirs, "daily"),
        listRollupFiles(dirs, "weekly"),
      ]);
      const withUrl = (f: { kind: string; name: string }) => ({
        ...f,
        url: `/files/${f.kind}/${encodeURIComponent(f.name)}`,
      });
      return json({ daily: daily.map(withUrl), weekly: weekly.map(withUrl) });
    },
    "/api/health": () => {
      const at = now();
      const last = storage.lastPollTs();
      const ageSec = last === null ? null : Math.max(0, Math.round((at - last) / 1000));
      const status = ageSec === null
        ? "no polls yet"
        : ageSec > STALE_INTERVALS * config.intervalSec
        ? "stale"
        : "ok";
      return json({
        status,
        now: at,
        timeZone: config.timeZone,
        intervalSec: config.intervalSec,
        lastPollTs: last,
        lastPollTime: last === null ? null : time(last),
        lastPollAgeSec: ageSec,
        pollsStored: counts().polls,
        gapsLast24h: storage.gaps(at - DAY_MS, at + 1).length,
        database: { path: config.cachePath, bytes: databaseBytes(config.cachePath) },
        disk: diskUsage(config.cachePath),
        rollupDirs: dirs,
      });
    },
    "/metrics": () => {
      const poll = latestPoll();
      const body = formatMetrics({
        fields: poll ? decodeFields(poll, decodeOptions) : [],
        lastPollTs: poll?.ts ?? null,
        now: now(),
        pollsStored: counts().polls,
        gapsStored: counts().gaps,
        databaseBytes: databaseBytes(config.cachePath),
        disk: diskUsage(config.cachePath),
      });
      return new Response(body, {
        headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
      });
    },
  };

  const download = async (path: string): Promise<Response> => {
    const [, , kind, encodedName] = path.split("/");
    let name: string;
    try {
      name = decodeURIComponent(encodedName ?? "");
    } catch {
      throw new HttpError(400, "malformed file name");
    }
    const file = isRollupKind(kind) ? await rollupFilePath(dirs, kind, name) : null;
    if (file === null) throw new HttpError(404, `no roll-up file ${JSON.stringify(name)}`);
    const headers = new Headers({
      ...SECURITY_HEADERS,
      "content-type": name.endsWith(".csv")
        ? "text/csv; charset=utf-8"
        : "application/octet-stream",
      "content-disposition": contentDisposition(name),
      "cache-control": "no-cache",
    });
    const opened = await Deno.open(file, { read: true });
    try {
      headers.set("content-length", String((await opened.stat()).size));
    } catch (error) {
      opened.close();
      throw error;
    }
    return new Response(cutOffWhen(context.closing, opened.readable), { headers });
  };

  const route = async (url: URL): Promise<Response> => {
    const path = url.pathname;
    const handler = routes[path];
    if (handler) return await handler(url.searchParams);
    if (path.startsWith("/files/") && path.split("/").length === 4) return await download(path);
    if (isStaticPath(path)) {
      const asset = await staticAsset(path);
      return new Response(asset.body, {
        headers: {
          ...SECURITY_HEADERS,
          "content-type": asset.contentType,
          "cache-control": "no-cache",
        },
      });
    }
    throw new HttpError(404, `not found: ${path}`);
  };

  return async (req: Request): Promise<Response> => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("read-only dashboard: only GET and HEAD are allowed\n", {
        status: 405,
        headers: { allow: ALLOWED_METHODS, "content-type": "text/plain; charset=utf-8" },
      });
    }
    let response: Response;
    try {
      response = await route(new URL(req.url));
    } catch (error) {
      if (error instanceof HttpError) {
        response = json({ error: error.message }, error.status);
      } else {
        logger.error("dashboard request failed", {
          path: new URL(req.url).pathname,
          error: error instanceof Error ? error.message : String(error),
        });
        response = json({ error: "internal error; see the service log" }, 500);
      }
    }
    if (req.method === "HEAD") {
      await response.body?.cancel();
      return new Response(null, { status: response.status, headers: response.headers });
    }
    return response;
  };
}
