// View Details: everything about one job, kept current while open.

import { call, isJobId } from "./api.js";
import {
  absoluteTime, el, formatNumber, progressBar, stalledWarning, statusBadge, timeElement,
} from "./format.js";

const dialog = () => document.getElementById("details");
let shown = { jobId: null, me: null, lastUpdate: null };

function field(label, ...value) {
  return [el("dt", {}, label), el("dd", {}, ...value)];
}

/// Who is emailed when the job ends, as the Notify row says it.
function recipientText(notify) {
  if (!notify) return "Nobody (no email for this job)";
  return notify.time_zone ? `${notify.email} (times in ${notify.time_zone})` : notify.email;
}

function render(job, log) {
  const refs = job.reference_ids;
  const counters = job.counters;
  const body = el("div", { class: "details", "data-job-id": job.id, "data-status": job.status },
    el("p", { class: "headline" }, el("strong", {}, job.type_label), " ", statusBadge(job), " ",
      stalledWarning(job, shown.me.stall_threshold_secs)),
    el("dl", { class: "fields" },
      field("Job ID", el("code", { id: "details-job-id" }, job.id)),
      field("Attempt", String(job.attempt)),
      field("Message", job.message),
      field("Created", absoluteTime(job.created_at), " (", timeElement(job.created_at), ") by ", job.created_by),
      field("Last Updated", absoluteTime(job.updated_at), " (", timeElement(job.updated_at), ") by ", job.updated_by),
      job.file_name ? field("File", job.file_name) : null,
      field("Client ID", el("code", { id: "details-client-id" }, refs.client_id || "—")),
      field("User ID", el("code", { id: "details-user-id" }, refs.user_id || "—")),
      field("Warehouse ID", el("code", { id: "details-warehouse-id" }, refs.warehouse_id || "—")),
      field("Notify", el("span", { id: "details-notify" }, recipientText(job.notify))),
      field("Rows", `${formatNumber(counters.rows_processed)} processed of ${formatNumber(counters.rows_total)}, `
        + `${formatNumber(counters.rows_rejected)} rejected`)),
    job.status === "in_progress" ? progressBar(job) : null,
    el("h3", {}, "Parameters"),
    el("pre", { class: "parameters", id: "details-parameters", tabindex: "0" }, JSON.stringify(job.parameters, null, 2)),
    el("h3", {}, "Message log"),
    log.length === 0
      ? el("p", { class: "empty" }, "Nothing logged yet.")
      : el("ol", { class: "log", id: "details-log" }, log.map((line) =>
        el("li", { class: line.ignored ? "ignored" : "" },
          el("time", { datetime: line.occurred_at || "" }, absoluteTime(line.occurred_at)),
          el("span", { class: `kind kind-${line.kind}` }, line.kind),
          el("span", { class: "text" }, line.message || "—",
            line.ignored ? ` (ignored: ${line.ignore_reason || "changed nothing"})` : ""),
          el("span", { class: "actor" }, `attempt ${line.attempt} · ${line.actor}`)))));
  document.getElementById("details-title").textContent = `${job.type_label} ${job.id}`;
  document.getElementById("details-body").replaceChildren(body);
}

let latestFetch = 0;

async function fetchAndRender(jobId) {
  const thisFetch = ++latestFetch;
  try {
    const details = await call("GET", `/api/v1/jobs/${jobId}`);
    // Only the latest answer is shown: an earlier one may carry an older state.
    if (shown.jobId === jobId && thisFetch === latestFetch) render(details.job, details.log);
  } catch (error) {
    if (thisFetch !== latestFetch) return;
    document.getElementById("details-body").replaceChildren(
      el("p", { class: "banner error", role: "alert" }, error.message));
  }
}

function setJobInUrl(jobId) {
  const params = new URLSearchParams(location.search);
  if (jobId) params.set("job", jobId);
  else params.delete("job");
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

/// Opens the details of `jobId`; the URL names the job, so the view can be shared.
export async function openDetails(jobId, me) {
  if (!isJobId(jobId)) throw new Error(`'${jobId}' is not a job id`);
  shown = { jobId, me, lastUpdate: null };
  setJobInUrl(jobId);
  document.getElementById("details-body").replaceChildren(el("p", {}, "Loading…"));
  const box = dialog();
  if (!box.open) box.showModal();
  await fetchAndRender(jobId);
}

/// Refreshes the open details when `job` is the one shown and it changed.
export function refreshDetails(job) {
  if (!dialog().open || shown.jobId !== job.id || shown.lastUpdate === job.updated_at) return;
  shown.lastUpdate = job.updated_at;
  fetchAndRender(job.id);
}

document.getElementById("details-close").addEventListener("click", () => dialog().close());
dialog().addEventListener("close", () => { shown.jobId = null; setJobInUrl(null); });
