/**
 * The dashboard server: binds the request handler with Deno.serve on HTTP_HOST
 * (127.0.0.1 by default) and HTTP_PORT, and stops with the service.
 */
import { createDashboardHandler, type DashboardContext } from "./routes.ts";

export interface DashboardOptions extends DashboardContext {
  hostname: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** How long close() waits for open requests before cutting off downloads (ms). */
  closeGraceMs?: number;
}

/**
 * Open requests get this long to finish when the service stops; then running downloads
 * are cut off, well inside Docker's 10 s and systemd's TimeoutStopSec before SIGKILL.
 */
export const CLOSE_GRACE_MS = 3_000;
/** After cutting off the downloads, how long close() still waits for the server. */
const CUT_OFF_WAIT_MS = 500;

export interface Dashboard {
  hostname: string;
  port: number;
  /** The page's address, e.g. http://127.0.0.1:8080/ */
  url: string;
  /**
   * Stops accepting requests and waits for the open ones to finish; downloads still
   * running after the grace period are cut off.
   */
  close(): Promise<void>;
}

export class DashboardError extends Error {}

export function startDashboard(options: DashboardOptions): Dashboard {
  const closing = new AbortController();
  const handler = createDashboardHandler({ ...options, closing: closing.signal });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
    }, handler);
  } catch (error) {
    throw new DashboardError(
      `dashboard: cannot listen on ${options.hostname}:${options.port} (HTTP_HOST/HTTP_PORT): ${
        (error as Error).message
      }`,
    );
  }
  const { hostname, port } = server.addr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    hostname,
    port,
    url: `http://${host}:${port}/`,
    async close() {
      const shutdown = server.shutdown();
      const grace = options.closeGraceMs ?? CLOSE_GRACE_MS;
      if (await finishesWithin(shutdown, grace)) return;
      closing.abort();
      // What a slow client has not yet taken from the socket is not waited for: the
      // connection ends with the process.
      await finishesWithin(shutdown, CUT_OFF_WAIT_MS);
    },
  };
}

/** Whether `promise` settles within `ms`. */
async function finishesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
