// The Background Jobs page: the list with its filters (kept in the URL), paging,
// live updates, and the actions of each row.

import { ApiError, adoptTokenFromFragment, call, follow, isJobId, signOut, token } from "./api.js";
import { el, refreshRelativeTimes, stalledWarning, statusBadge, timeElement } from "./format.js";
import { openDetails, refreshDetails } from "./details.js";
import { setUpStart } from "./start.js";

const page = {
  me: null,
  jobs: [],
  // Cursors of the pages before the current one (for "Newer"), and of the next one.
  previousTokens: [],
  currentToken: "",
  nextToken: null,
};
const $ = (id) => document.getElementById(id);
/// Jobs per page, as asked of the API.
const PAGE_SIZE = 25;

// ---- filters <-> URL ----

const FILTERS = ["status", "type", "created_by", "from", "to"];

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  return Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
}

function showFilters(filters) {
  $("filter-status").value = filters.status;
  $("filter-type").value = filters.type;
  $("filter-created-by").value = filters.created_by;
  $("filter-from").value = filters.from;
  $("filter-to").value = filters.to;
}

function filtersFromForm() {
  const form = new FormData($("filters"));
  return Object.fromEntries(FILTERS.map((name) => [name, (form.get(name) || "").trim()]));
}

/// Local dates become instants in the user's time zone; To is inclusive (up to the
/// start of the next day).
function apiQuery(filters, pageToken) {
  const query = new URLSearchParams();
  if (filters.status) query.set("status", filters.status);
  if (filters.type) query.set("type", filters.type);
  if (filters.created_by) query.set("created_by", filters.created_by);
  if (filters.from) query.set("from", new Date(`${filters.from}T00:00:00`).toISOString());
  if (filters.to) {
    const end = new Date(`${filters.to}T00:00:00`);
    end.setDate(end.getDate() + 1);
    query.set("to", end.toISOString());
  }
  query.set("page_size", String(PAGE_SIZE));
  if (pageToken) query.set("page_token", pageToken);
  return query;
}

function matchesFilters(job, filters) {
  if (filters.status && job.status !== filters.status) return false;
  if (filters.type && job.type !== filters.type) return false;
  if (filters.created_by && !job.created_by.toLowerCase().includes(filters.created_by.toLowerCase())) return false;
  const created = new Date(job.created_at);
  if (filters.from && created < new Date(`${filters.from}T00:00:00`)) return false;
  if (filters.to) {
    const end = new Date(`${filters.to}T00:00:00`);
    end.setDate(end.getDate() + 1);
    if (created >= end) return false;
  }
  return true;
}

// ---- messages ----

export function showBanner(message, { kind = "error", action = null } = {}) {
  const banner = $("banner");
  banner.replaceChildren(el("span", {}, message), action || "");
  banner.className = `banner ${kind}`;
  banner.hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

/// The one place API failures become what the user sees.
export function reportError(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut();
    showBanner(`${error.message}`, { action: signInLink("Sign in again") });
    return;
  }
  showBanner(error.message || String(error));
}

/// What the page says about a `job` in the address that is not a job id.
export function invalidJobMessage(value) {
  const shown = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  return `The address names the job "${shown}", which is not a job id (job ids look like `
    + "0190f5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d). Check the link you followed.";
}

function signInLink(text) {
  return el("a", { href: `/sign-in?return=${encodeURIComponent(location.pathname + location.search)}` }, text);
}

// ---- the table ----

function actionsFor(job) {
  const actions = el("div", { class: "actions" });
  actions.append(el("button", {
    type: "button", class: "link", "data-action": "details",
    "aria-label": `View details of job ${job.id}`, onclick: () => openDetails(job.id, page.me),
  }, "View Details"));
  if (job.has_results) {
    actions.append(el("button", {
      type: "button", class: "link", "data-action": "download",
      "aria-label": `Download results of job ${job.id}`, onclick: () => download(job),
    }, "Download Results"));
  }
  if (job.can_retry) {
    actions.append(el("button", {
      type: "button", class: "link", "data-action": "retry",
      "aria-label": `Retry job ${job.id}`, onclick: () => retry(job),
    }, "Retry"));
  }
  return actions;
}

function row(job) {
  return el("tr", { "data-job-id": job.id, "data-status": job.status },
    el("td", { class: "id" }, el("code", { title: job.id }, job.id.slice(-12))),
    el("td", {}, job.type_label),
    el("td", {}, statusBadge(job), stalledWarning(job, page.me.stall_threshold_secs)),
    el("td", {}, timeElement(job.created_at)),
    el("td", {}, job.created_by),
    el("td", { class: "message" }, job.message),
    el("td", {}, timeElement(job.updated_at)),
    el("td", {}, job.updated_by),
    el("td", {}, actionsFor(job)));
}

function render() {
  const rows = $("job-rows");
  rows.replaceChildren(...page.jobs.map(row));
  const empty = $("empty");
  const filtered = Object.values(filtersFromUrl()).some(Boolean);
  empty.hidden = page.jobs.length > 0;
  empty.textContent = filtered
    ? "No jobs match these filters. Clear or change a filter to see more."
    : "No jobs yet. Jobs appear here as soon as an upload or deletion starts.";
  $("jobs").hidden = page.jobs.length === 0;
  $("newer").disabled = page.previousTokens.length === 0;
  $("older").disabled = !page.nextToken;
}

/// Of two copies of one job, the newer: a list read just before a live update can
/// arrive after it, and must not take the row back to an older state.
function newestOf(job, known) {
  return known && known.version > job.version ? known : job;
}

/// The API's order, newest first: by creation time, then by id.
function listedBefore(job, other) {
  const created = Date.parse(job.created_at);
  const otherCreated = Date.parse(other.created_at);
  if (created !== otherCreated) return created > otherCreated;
  return job.id > other.id;
}

let latestLoad = 0;

async function load(pageToken = "") {
  const thisLoad = ++latestLoad;
  try {
    const result = await call("GET", `/api/v1/jobs?${apiQuery(filtersFromUrl(), pageToken)}`);
    if (thisLoad !== latestLoad) return; // an answer to filters that have changed since
    const known = new Map(page.jobs.map((job) => [job.id, job]));
    page.jobs = result.jobs.map((job) => newestOf(job, known.get(job.id)));
    page.currentToken = pageToken;
    page.nextToken = result.next_page_token || null;
    hideBanner();
    render();
  } catch (error) {
    reportError(error);
  }
}

function applyFilters() {
  const filters = filtersFromForm();
  const query = new URLSearchParams(Object.entries(filters).filter(([, value]) => value));
  const shownJob = new URLSearchParams(location.search).get("job");
  if (shownJob) query.set("job", shownJob);
  const url = query.toString() ? `?${query}` : location.pathname;
  history.replaceState(null, "", url);
  page.previousTokens = [];
  load();
}

// ---- actions ----

async function download(job) {
  try {
    const link = await call("POST", `/api/v1/jobs/${job.id}/download-link`);
    const anchor = el("a", { href: link.url, download: link.file_name, hidden: true, "data-download": job.id });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  } catch (error) {
    reportError(error);
  }
}

async function retry(job) {
  try {
    const retried = await call("POST", `/api/v1/jobs/${job.id}/retry`);
    upsert(retried);
  } catch (error) {
    reportError(error);
  }
}

/// Whether a job not shown belongs on the page: the first page shows the newest jobs
/// that match the filters, at most a page of them.
function belongsOnThisPage(job) {
  if (page.previousTokens.length > 0 || !matchesFilters(job, filtersFromUrl())) return false;
  const last = page.jobs.at(-1);
  return page.jobs.length < PAGE_SIZE || !last || listedBefore(job, last);
}

let reloadScheduled = null;

/// Reads the first page again soon (once for a burst of new jobs), so that "Older"
/// continues from the last row shown.
function scheduleReload() {
  clearTimeout(reloadScheduled);
  reloadScheduled = setTimeout(() => {
    if (page.previousTokens.length === 0) load("");
  }, 300);
}

/// A job that changed, from a live update or an action's answer: its row is replaced
/// unless the row already shows a newer state; a job not shown takes its place in
/// the list's order if it belongs on this page, which never grows past its size.
export function upsert(job) {
  const index = page.jobs.findIndex((known) => known.id === job.id);
  if (index >= 0) {
    if (newestOf(job, page.jobs[index]) !== job) return;
    page.jobs[index] = job;
    const old = document.querySelector(`tr[data-job-id="${job.id}"]`);
    if (old) old.replaceWith(row(job));
  } else if (belongsOnThisPage(job)) {
    const position = page.jobs.findIndex((shown) => listedBefore(job, shown));
    page.jobs.splice(position < 0 ? page.jobs.length : position, 0, job);
    if (page.jobs.length > PAGE_SIZE) {
      // The row pushed off now heads the next page, which the reload's cursor finds.
      page.jobs.length = PAGE_SIZE;
      scheduleReload();
    }
    render();
  }
  refreshDetails(job);
}

// ---- live updates ----

async function followLive() {
  const state = $("live-state");
  for (;;) {
    let pause = 3000;
    try {
      let expired = null;
      await follow("/api/v1/events", (name, data) => {
        if (name === "ready") state.textContent = "Live: changes appear as they happen.";
        else if (name === "job") upsert(JSON.parse(data));
        else if (name === "unavailable") state.textContent = `Live updates interrupted: ${data}`;
        else if (name === "expired") expired = data;
      });
      if (expired !== null) {
        // The token the stream was opened with has expired: reconnecting cannot help.
        reportError(new ApiError(401, "unauthenticated", expired));
        state.textContent = "Live updates stopped: sign in again.";
        return;
      }
      state.textContent = "Live updates interrupted; reconnecting…";
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        reportError(error);
        state.textContent = "Live updates stopped: sign in again.";
        return;
      }
      if (error instanceof ApiError && error.status === 429) {
        // Too many pages open (this user's or everyone's): try again later, not soon.
        state.textContent = `Live updates paused: ${error.message}`;
        pause = 30000;
      } else {
        state.textContent = `Live updates interrupted (${error.message}); reconnecting…`;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    load(page.currentToken); // catch up on what was missed
  }
}

// ---- start ----

async function start() {
  const handover = adoptTokenFromFragment();
  if (handover === "ignored") {
    console.warn("a token in the address was ignored: it did not come from this tab's sign-in");
  }
  if (!token()) {
    const message = handover === "ignored"
      ? "The sign-in in this link was ignored: it was not started from this page. Sign in yourself."
      : "You are not signed in.";
    showBanner(message, { kind: "info", action: signInLink("Sign in") });
    return;
  }
  try {
    page.me = await call("GET", "/api/v1/me");
  } catch (error) {
    reportError(error);
    return;
  }
  $("who").replaceChildren(
    el("span", {}, `${page.me.name} · account ${page.me.account}`),
    el("button", { type: "button", class: "link", onclick: () => { signOut(); location.href = "/sign-in"; } }, "Sign out"));
  $("main").hidden = false;
  showFilters(filtersFromUrl());

  let typing;
  const scheduleApply = (event) => {
    clearTimeout(typing);
    // Search as you type, without a request per keystroke; selects and date pickers
    // fire both input and change, which this folds into one request.
    typing = setTimeout(applyFilters, event.target.type === "search" ? 250 : 0);
  };
  $("filters").addEventListener("input", scheduleApply);
  $("filters").addEventListener("change", scheduleApply);
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
  $("clear-filters").addEventListener("click", () => { $("filters").reset(); applyFilters(); });
  $("older").addEventListener("click", () => {
    page.previousTokens.push(page.currentToken);
    load(page.nextToken);
  });
  $("newer").addEventListener("click", () => load(page.previousTokens.pop() || ""));
  window.addEventListener("popstate", () => { showFilters(filtersFromUrl()); load(); });
  if (page.me.can_retry) setUpStart(page.me, (message) => showBanner(message, { kind: "info" }));

  await load();
  const linkedJob = new URLSearchParams(location.search).get("job");
  if (linkedJob && isJobId(linkedJob)) openDetails(linkedJob, page.me);
  else if (linkedJob) showBanner(invalidJobMessage(linkedJob));
  setInterval(() => { refreshRelativeTimes(); render(); }, 30000);
  followLive();
}

start();
