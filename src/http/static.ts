/**
 * The page's files (HTML, CSS, JS and the vendored uPlot), read from src/http/static/
 * next to this module and kept in memory after the first request. Only the files listed
 * here are served. `deno compile --include src/http/static` embeds them in the binary.
 */
export interface StaticAsset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

const ASSETS: Record<string, { file: string; contentType: string }> = {
  "/": { file: "index.html", contentType: "text/html; charset=utf-8" },
  "/static/app.js": { file: "app.js", contentType: "text/javascript; charset=utf-8" },
  "/static/style.css": { file: "style.css", contentType: "text/css; charset=utf-8" },
  "/static/vendor/uPlot.iife.min.js": {
    file: "vendor/uPlot.iife.min.js",
    contentType: "text/javascript; charset=utf-8",
  },
  "/static/vendor/uPlot.min.css": {
    file: "vendor/uPlot.min.css",
    contentType: "text/css; charset=utf-8",
  },
};

const cache = new Map<string, StaticAsset>();

export function isStaticPath(path: string): boolean {
  return Object.hasOwn(ASSETS, path);
}

/** The asset served at `path`; throws if `path` is not one of ours or the file is missing. */
export async function staticAsset(path: string): Promise<StaticAsset> {
  let asset = cache.get(path);
  if (!asset) {
    const { file, contentType } = ASSETS[path];
    const body = await Deno.readFile(new URL(`./static/${file}`, import.meta.url));
    asset = { body, contentType };
    cache.set(path, asset);
  }
  return asset;
}
