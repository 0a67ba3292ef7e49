/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4): the latest
 * poll's numeric fields as one gauge family labelled by table, field and unit, plus
 * the logger's own health. Pure: the route gathers the figures, this only writes text.
 */
import type { FieldValue } from "./fields.ts";
import type { DiskUsage } from "./health.ts";
import { numericValue } from "./fields.ts";
import { formatCell } from "../luxtronik/decode.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsSnapshot {
  /** Decoded fields of the latest poll (empty before the first poll). */
  fields: readonly FieldValue[];
  lastPollTs: number | null;
  now: number;
  pollsStored: number;
  gapsStored: number;
  databaseBytes: number;
  disk: DiskUsage | null;
}

/** Label values escape backslash, double quote and line feed (exposition format rules). */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
  return `{${body}}`;
}

/**
 * Fields worth a gauge: known calculations and parameters. Visibilities only say what
 * the controller's menu shows, and unknown fields are raw integers without meaning.
 */
function isGaugeField(field: FieldValue): boolean {
  return field.table !== "visibilities" && field.type !== "Unknown" && field.numeric;
}

export function formatMetrics(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  const family = (name: string, help: string, samples: [string, number][]) => {
    if (samples.length === 0) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    // formatCell: 31.2, not the float artefact 31.200000000000003.
    for (const [labelText, value] of samples) {
      lines.push(`${name}${labelText} ${formatCell(value)}`);
    }
  };
  family(
    "lux_field_value",
    "Latest polled value of each numeric heat pump field (booleans as 0/1).",
    snapshot.fields.filter(isGaugeField).map((f) => [
      labels({ table: f.table, field: f.name, unit: f.unit }),
      numericValue(f.value)!,
    ]),
  );
  const last = snapshot.lastPollTs;
  family(
    "lux_last_poll_timestamp_seconds",
    "Unix time of the newest stored poll.",
    last === null ? [] : [["", last / 1000]],
  );
  family(
    "lux_last_poll_age_seconds",
    "Seconds since the newest stored poll.",
    last === null ? [] : [["", Math.max(0, (snapshot.now - last) / 1000)]],
  );
  family("lux_polls_stored", "Polls in the database.", [["", snapshot.pollsStored]]);
  family("lux_gaps_stored", "Failed polls (gaps) in the database.", [["", snapshot.gapsStored]]);
  family("lux_database_bytes", "Size of the SQLite database with its WAL.", [
    ["", snapshot.databaseBytes],
  ]);
  const disk = snapshot.disk;
  family(
    "lux_disk_used_percent",
    "Used space of the file system holding the database.",
    disk ? [["", disk.usedPercent]] : [],
  );
  family(
    "lux_disk_free_bytes",
    "Free space of the file system holding the database.",
    disk ? [["", disk.freeBytes]] : [],
  );
  return lines.join("\n") + "\n";
}
