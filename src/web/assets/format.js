// Dates, durations and ages: one format everywhere, in the browser's time zone, with the zone shown.

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** The short name of the browser's time zone at that instant ("UTC", "CET", "GMT+2"). */
export function zoneName(date = new Date()) {
  try {
    const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(date).find((p) => p.type === "timeZoneName");
    if (part) return part.value;
  } catch {}
  const offset = -date.getTimezoneOffset();
  return `UTC${offset >= 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
}

/** `2026-12-01 15:51:26 UTC`: the one date format of the dashboard (local time, zone named). */
export function formatDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zoneName(d)}`;
}

/** A log line's time of day, `15:51:26.123`, in the same zone as formatDate (the log header names it). */
export const clock = (ms) => {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
};

export function age(iso, now = Date.now()) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** Milliseconds as `4s`, `2m 05s`, `1h 03m`. */
export function span(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
}

export function duration(b, now = Date.now()) {
  const start = b.initializing_on ?? b.running_on;
  if (!start) return b.status === "queued" ? "queued" : "—";
  const end = b.stopped_on ? Date.parse(b.stopped_on) : now;
  return span(end - Date.parse(start));
}

export const shortHash = (hash) => (hash ? hash.slice(0, 7) : "—");
export const firstLine = (text) => (text ?? "").split("\n")[0];
