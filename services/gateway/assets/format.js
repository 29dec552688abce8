// Formatting: times in the user's time zone (absolute and relative), numbers, badges,
// and a tiny element builder that never interprets text as HTML.

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const number = new Intl.NumberFormat();

/// `el("td", { class: "x" }, "text", child)`: an element with attributes and children.
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function formatNumber(value) {
  return number.format(value);
}

export function absoluteTime(iso) {
  return iso ? absolute.format(new Date(iso)) : "—";
}

/// "3 minutes ago", "yesterday"...
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(seconds, "second");
}

/// A time cell: relative text, absolute time in the tooltip and a <time> element.
export function timeElement(iso) {
  return el("time", { datetime: iso || "", title: absoluteTime(iso), "data-relative": iso || "" },
    iso ? relativeTime(iso) : "—");
}

/// Refreshes every relative time on the page (called every 30 s).
export function refreshRelativeTimes(root = document) {
  for (const node of root.querySelectorAll("time[data-relative]")) {
    if (node.dataset.relative) node.textContent = relativeTime(node.dataset.relative);
  }
}

export function statusBadge(job) {
  return el("span", { class: `badge status-${job.status}` }, job.status_label);
}

/// Minutes since the last update when the job is In Progress past the threshold.
export function stalledMinutes(job, thresholdSecs, now = Date.now()) {
  if (job.status !== "in_progress" || !job.updated_at) return null;
  const silentSecs = (now - new Date(job.updated_at).getTime()) / 1000;
  return silentSecs > thresholdSecs ? Math.floor(silentSecs / 60) : null;
}

export function stalledWarning(job, thresholdSecs) {
  const minutes = stalledMinutes(job, thresholdSecs);
  if (minutes === null) return null;
  return el("span", { class: "stalled", role: "status" },
    `⚠ stalled — last update ${minutes} min ago`);
}

/// A progress bar for a job with a known total.
export function progressBar(job) {
  const { rows_total: total, rows_processed: done } = job.counters;
  if (!total) return null;
  const percent = Math.min(100, Math.round((done / total) * 100));
  return el("div", { class: "progress" },
    el("progress", { max: total, value: done, "aria-label": `${percent}% of rows processed` }),
    el("span", {}, `${formatNumber(done)} / ${formatNumber(total)} rows (${percent}%)`));
}
