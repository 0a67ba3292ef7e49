/**
 * The dashboard server: binds the request handler with Deno.serve on HTTP_HOST
 * (127.0.0.1 by default) and HTTP_PORT, and stops with the service.
 */
import { createDashboardHandler, type DashboardContext } from "./routes.ts";

export interface DashboardOptions extends DashboardContext {
  hostname: string;
  /** 0 picks a free port (tests). */
  port: number;
}

export interface Dashboard {
  hostname: string;
  port: number;
  /** The page's address, e.g. http://127.0.0.1:8080/ */
  url: string;
  /** Stops accepting requests and waits for the open ones to finish. */
  close(): Promise<void>;
}

export class DashboardError extends Error {}

export function startDashboard(options: DashboardOptions): Dashboard {
  const handler = createDashboardHandler(options);
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
      await server.shutdown();
    },
  };
}
