// Starting work from the page (retry role only): product and warehouse uploads, and
// Delete Client after a dry run and the client's name typed to confirm.

import { call } from "./api.js";
import { el } from "./format.js";

const $ = (id) => document.getElementById(id);
let notify = () => {};
let me = null;

function openStart(title, ...content) {
  $("start-title").textContent = title;
  $("start-body").replaceChildren(...content);
  const dialog = $("start-dialog");
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector("input, select, button:not(.close)");
  if (first) first.focus();
}

function closeStart() {
  $("start-dialog").close();
}

function notice(text) {
  return el("p", { class: "banner info", role: "status" }, text);
}

function choice(label, name, options) {
  return el("label", {}, label,
    el("select", { name }, options.map(([value, text]) => el("option", { value }, text))));
}

/// "Email me when it ends", checked by default: the address is the signed-in user's,
/// from their sign-in; without one there is nothing to choose.
function emailChoice() {
  if (!me.email) {
    return el("p", { class: "hint" }, "Nobody is emailed when it ends: your sign-in has no email address.");
  }
  return el("label", { class: "check" },
    el("input", { type: "checkbox", name: "notify", checked: true }),
    `Email me when it ends (to ${me.email}, your sign-in's address)`);
}

/// The query parameters of who is emailed: `notify=false` when the box is unchecked,
/// and the browser's time zone for the email's times (the sign-in's, if it names one,
/// is used instead).
function emailQuery(scope, query) {
  const box = scope.querySelector("input[name=notify]");
  if (box && !box.checked) query.set("notify", "false");
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (timeZone) query.set("time_zone", timeZone);
  return query;
}

function uploadForm(jobType, withClient) {
  const status = el("div", { "aria-live": "polite" });
  const form = el("form", { class: "start-form" },
    withClient ? el("label", {}, "Client ID", el("input", { name: "client_id", required: true, autocomplete: "off" })) : null,
    el("label", {}, "CSV file", el("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true })),
    choice("If a row is invalid", "mode", [["partial", "import the valid rows, report the others"],
      ["all-or-nothing", "import nothing"]]),
    choice("Existing records", "write", [["create-or-update", "create new and update existing"],
      ["create-only", "create new only"], ["update-only", "update existing only"]]),
    // UTF-16 files with a byte-order mark (Excel's "Unicode Text") need no choice.
    choice("File encoding", "encoding", [["utf-8", "UTF-8 (CSV UTF-8)"],
      ["windows-1252", "Windows-1252 (Excel's CSV on Windows, Western European)"],
      ["iso-8859-2", "ISO-8859-2 (Central European)"],
      ["utf-16le", "UTF-16 (Unicode Text)"]]),
    emailChoice(),
    el("div", { class: "buttons" }, el("button", { type: "submit" }, "Start upload")),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const file = data.get("file");
    const query = new URLSearchParams({ file_name: file.name, mode: data.get("mode"), write: data.get("write") });
    if (data.get("encoding") !== "utf-8") query.set("encoding", data.get("encoding"));
    if (withClient) query.set("client_id", data.get("client_id").trim());
    emailQuery(form, query);
    status.replaceChildren(notice("Uploading…"));
    try {
      const accepted = await call("POST", `/api/v1/jobs/${jobType}?${query}`, { body: file, contentType: "text/csv" });
      closeStart();
      notify(`Upload started as job ${accepted.job_id}.`);
    } catch (error) {
      status.replaceChildren(el("p", { class: "banner error", role: "alert" }, error.message));
    }
  });
  return form;
}

async function finished(jobId) {
  for (let waited = 0; waited < 120; waited += 1) {
    const { job } = await call("GET", `/api/v1/jobs/${jobId}`);
    if (job.status === "completed" || job.status === "error") return job;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error("The dry run is taking long; look for it in the list and try again later.");
}

function deleteClientForm() {
  const status = el("div", { "aria-live": "polite" });
  const check = el("form", { class: "start-form" },
    el("label", {}, "Client ID", el("input", { name: "client_id", required: true, autocomplete: "off" })),
    el("div", { class: "buttons" }, el("button", { type: "submit" }, "Show what would be deleted")),
    status);
  check.addEventListener("submit", async (event) => {
    event.preventDefault();
    const clientId = new FormData(check).get("client_id").trim();
    status.replaceChildren(notice("Running a dry run (nothing is deleted)…"));
    try {
      // The dry run's result is shown here, so it is not emailed.
      const query = new URLSearchParams({ client_id: clientId, dry_run: "true", notify: "false" });
      const accepted = await call("POST", `/api/v1/jobs/delete-client?${query}`);
      const job = await finished(accepted.job_id);
      if (job.status === "error") {
        status.replaceChildren(el("p", { class: "banner error", role: "alert" }, job.message));
        return;
      }
      if (job.counters.rows_total === 0) {
        // Already deleted: there is nothing to confirm.
        status.replaceChildren(el("p", { class: "banner info", role: "status" }, job.message));
        return;
      }
      status.replaceChildren(confirmation(clientId, job.message));
    } catch (error) {
      status.replaceChildren(el("p", { class: "banner error", role: "alert" }, error.message));
    }
  });
  return check;
}

// The page cannot check the name (the gateway does not read the catalogue): the dry
// run's message names the client, and the delete-client consumer deletes nothing
// unless the typed name is the client's.
function confirmation(clientId, dryRunMessage) {
  const typed = el("input", { name: "confirm_name", autocomplete: "off", "aria-describedby": "confirm-help" });
  const button = el("button", { type: "button", class: "danger", disabled: true }, `Delete ${clientId}`);
  const choice = emailChoice();
  typed.addEventListener("input", () => { button.disabled = typed.value.trim() === ""; });
  button.addEventListener("click", async () => {
    const query = new URLSearchParams({ client_id: clientId, confirm_name: typed.value.trim() });
    emailQuery(choice, query);
    try {
      const accepted = await call("POST", `/api/v1/jobs/delete-client?${query}`);
      closeStart();
      notify(`Deletion of ${clientId} started as job ${accepted.job_id}.`);
    } catch (error) {
      button.after(el("p", { class: "banner error", role: "alert" }, error.message));
    }
  });
  return el("div", { class: "confirm" },
    el("p", { id: "dry-run-result" }, el("strong", {}, "Dry run: "), dryRunMessage.replace(/^Dry run: /, "")),
    el("p", { id: "confirm-help" },
      "This cannot be undone. Type the client's name, as the dry run names it, to confirm; "
      + "if the name is not the client's, nothing is deleted."),
    el("label", {}, "Client name", typed),
    choice,
    el("div", { class: "buttons" }, button));
}

/// Shows the start buttons to `signedIn` (the API's `me`); `showNotice(text)` tells
/// the user a job was started.
export function setUpStart(signedIn, showNotice) {
  me = signedIn;
  notify = showNotice;
  $("start-actions").hidden = false;
  $("start-product-upload").addEventListener("click",
    () => openStart("Upload products", uploadForm("product-upload", true)));
  $("start-warehouse-upload").addEventListener("click",
    () => openStart("Upload warehouse locations", uploadForm("warehouse-upload", false)));
  $("start-delete-client").addEventListener("click",
    () => openStart("Delete a client", deleteClientForm()));
  $("start-close").addEventListener("click", closeStart);
}
