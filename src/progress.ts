/**
 * Progress on standard error for long commands (`ingest`, `export`): one line rewritten
 * in place, only when standard error is a terminal, so pipes, log files and the
 * service stay quiet. Formatting is pure; Progress only decides when to write.
 */

/** Redraws at most this often: enough to look alive, cheap at 100,000 polls/s. */
const REDRAW_INTERVAL_MS = 250;
/** Short runs finish before this and print nothing at all. */
const QUIET_FOR_MS = 1_000;

/** `label: 12,345 of 80,640 polls (15 %), 23,456 polls/s` (pure). */
export function formatProgress(
  label: string,
  done: number,
  total: number | null,
  elapsedMs: number,
): string {
  const number = (n: number) => n.toLocaleString("en-US");
  const rate = elapsedMs > 0 ? number(Math.round(done / (elapsedMs / 1000))) : "-";
  if (total === null) return `${label}: ${number(done)} polls, ${rate} polls/s`;
  const percent = total === 0 ? 100 : Math.min(100, Math.floor((100 * done) / total));
  return `${label}: ${number(done)} of ${number(total)} polls (${percent} %), ${rate} polls/s`;
}

export interface ProgressOptions {
  label: string;
  total?: number | null;
  /** Default: whether standard error is a terminal. */
  enabled?: boolean;
  write?: (text: string) => void;
  now?: () => number;
}

export class Progress {
  readonly #started: number;
  #lastDraw = -Infinity;
  #drawn = false;
  readonly #enabled: boolean;
  readonly #write: (text: string) => void;
  readonly #now: () => number;

  constructor(private readonly options: ProgressOptions) {
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#enabled = options.enabled ?? Deno.stderr.isTerminal();
    const encoder = new TextEncoder();
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
  }

  /** Reports `done` polls so far; draws if due. */
  update(done: number): void {
    if (!this.#enabled) return;
    const now = this.#now();
    if (now - this.#started < QUIET_FOR_MS || now - this.#lastDraw < REDRAW_INTERVAL_MS) return;
    this.#lastDraw = now;
    this.#drawn = true;
    this.#write(`\r${this.#line(done, now)}\x1b[K`);
  }

  /** The final figures, if anything was drawn, and the line ended. */
  finish(done: number): void {
    if (!this.#drawn) return;
    this.#write(`\r${this.#line(done, this.#now())}\x1b[K\n`);
    this.#drawn = false;
  }

  #line(done: number, now: number): string {
    return formatProgress(
      this.options.label,
      done,
      this.options.total ?? null,
      now - this.#started,
    );
  }
}

/** Passes `items` through, reporting each to `progress`, and finishing at the end. */
export function* withProgress<T>(items: Iterable<T>, progress: Progress): Generator<T> {
  let done = 0;
  try {
    for (const item of items) {
      yield item;
      progress.update(++done);
    }
  } finally {
    progress.finish(done);
  }
}
