//! Headless Chromium driven through a chromedriver started on a free port (Debian's
//! `chromium` and `chromium-driver`, installed by `deploy/browser.sh`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use bgjobs_test_support::wait;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Where the page keeps the state of the sign-in under way (`assets/api.js`).
pub const SIGN_IN_STATE_KEY: &str = "bgjobs.sign-in-state";

/// How long the page may take to show what a test waits for.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// A browser session. Dropping it, however the test ends, kills chromedriver and every
/// Chromium process it started (see [`ProcessGroup`]).
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    /// Where the browser saves downloads.
    pub downloads: PathBuf,
    // Field order matters: the processes die before their profile directory is removed.
    _driver: ProcessGroup,
    _profile: tempdir::Dir,
}

/// chromedriver in a process group of its own, which the Chromium processes it starts
/// inherit. Killing only chromedriver (`kill_on_drop`) orphaned its Chromium processes
/// (55 were found after some runs): dropping this kills the whole group, and every
/// descendant of chromedriver in case one left the group.
struct ProcessGroup {
    driver: Child,
}

impl ProcessGroup {
    /// Kills every process of the group and every descendant, and reaps chromedriver.
    fn kill(&mut self) {
        if let Some(pid) = self.driver.id() {
            // Found before anything dies: an orphan's parent is no longer chromedriver.
            let mut targets: Vec<String> =
                descendants(pid).iter().map(|pid| pid.to_string()).collect();
            // chromedriver's pid is the group's id (`process_group(0)`).
            targets.push(format!("-{pid}"));
            let _best_effort = std::process::Command::new("kill")
                .arg("-KILL")
                .arg("--")
                .args(&targets)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _reaped = self.driver.try_wait();
    }
}

/// The pids of every descendant of `root`, from `/proc`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    for (pid, parent) in processes_and_parents() {
        children.entry(parent).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut to_visit = vec![root];
    while let Some(pid) = to_visit.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            to_visit.push(child);
        }
    }
    found
}

/// (pid, parent pid) of every process, from `/proc/<pid>/stat`.
fn processes_and_parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (command) state ppid ...": the command may hold spaces and parentheses.
            let after_command = &stat[stat.rfind(')')? + 1..];
            let parent = after_command.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect()
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Temporary directories removed on drop.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(name: &str) -> std::io::Result<Self> {
            let path = std::env::temp_dir()
                .join(format!("bgjobs-{name}-{}", bgjobs_test_support::unique_suffix()));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _best_effort = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium (own profile, UTC time zone).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_in_time_zone("UTC").await
    }

    /// Like [`Browser::start`], for a user in `time_zone` (an IANA name).
    pub async fn start_in_time_zone(time_zone: &str) -> anyhow::Result<Self> {
        let port = free_port()?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TZ", time_zone)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver; run deploy/browser.sh to install it")?;
        let driver = ProcessGroup { driver };
        let status_url = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        wait::until("chromedriver to answer", Duration::from_secs(20), || async {
            Ok(http
                .get(&status_url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ()))
        })
        .await?;

        let profile = tempdir::Dir::new("chromium-profile")?;
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads)?;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--disable-dev-shm-usage", "--window-size=1400,900", "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("opening a Chromium session")?;
        Ok(Self { client, downloads, _driver: driver, _profile: profile })
    }

    /// The pid of chromedriver, which is also its process group's id.
    pub fn driver_pid(&self) -> Option<u32> {
        self._driver.driver.id()
    }

    /// Opens `url` signed in with `token`, handed over in the fragment with the state
    /// this tab's sign-in keeps, as the page's sign-in and an identity provider's
    /// redirect do.
    pub async fn open_signed_in(
        &self,
        base: &str,
        path_and_query: &str,
        token: &str,
    ) -> anyhow::Result<()> {
        let state = uuid::Uuid::new_v4().simple().to_string();
        // Any page of the site, for its session storage (and so that the next address
        // is a new page, not only a new fragment).
        self.client.goto(&format!("{base}/healthz")).await?;
        self.client
            .execute(
                "sessionStorage.setItem(arguments[0], arguments[1]);",
                vec![json!(SIGN_IN_STATE_KEY), json!(state)],
            )
            .await?;
        self.client
            .goto(&format!("{base}{path_and_query}#access_token={token}&state={state}"))
            .await?;
        Ok(())
    }

    /// Evaluates `expression` in the page.
    pub async fn eval(&self, expression: &str) -> anyhow::Result<Value> {
        Ok(self.client.execute(&format!("return ({expression});"), vec![]).await?)
    }

    /// Waits until `expression` is truthy in the page; returns its value. An expression
    /// that throws counts as "not yet" (the page may still be loading or navigating, e.g.
    /// just after a click that signs in); if it still throws at the deadline, the error
    /// says so.
    pub async fn wait_for(&self, what: &str, expression: &str) -> anyhow::Result<Value> {
        let last_error = std::sync::Mutex::new(None::<String>);
        let waited = wait::until(what, PAGE_DEADLINE, || async {
            let value = match self.eval(expression).await {
                Ok(value) => value,
                Err(error) => {
                    *last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                        Some(error.to_string());
                    return Ok(None);
                }
            };
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            Ok(truthy.then_some(value))
        })
        .await;
        let last_error = last_error.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        match (waited, last_error) {
            (Err(timed_out), Some(error)) => {
                Err(timed_out
                    .context(format!("'{expression}' last failed in the page with: {error}")))
            }
            (waited, _) => waited,
        }
    }

    /// The ids of the rows shown, top to bottom.
    pub async fn row_ids(&self) -> anyhow::Result<Vec<String>> {
        let ids = self
            .eval("[...document.querySelectorAll('#job-rows tr')].map(r => r.dataset.jobId)")
            .await?;
        Ok(serde_json::from_value(ids)?)
    }

    /// Waits until the rows shown are exactly `expected`.
    pub async fn wait_for_rows(&self, what: &str, expected: &[&str]) -> anyhow::Result<()> {
        wait::until(what, PAGE_DEADLINE, || async {
            Ok((self.row_ids().await? == expected).then_some(()))
        })
        .await
    }

    /// Clicks the element at `css`, as soon as there is one; again if the page
    /// re-rendered it between finding and clicking (live updates, a filter's answer).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        wait::until(&format!("'{css}' to be clickable"), PAGE_DEADLINE, || async {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await.is_ok(),
                Err(_) => false,
            };
            Ok(clicked.then_some(()))
        })
        .await
    }

    /// Focuses the element at `css` and presses `key`, until `done` (an expression)
    /// holds: a live update that re-renders the element between the focus and the key
    /// press takes the focus with it, and the key then goes nowhere.
    pub async fn press_on(
        &self,
        css: &str,
        key: fantoccini::key::Key,
        done: &str,
    ) -> anyhow::Result<()> {
        let focus = format!(
            "(() => {{ const target = document.querySelector({css:?}); target?.focus(); \
             return !!target && document.activeElement === target; }})()"
        );
        wait::until(&format!("{done} after {key:?} on '{css}'"), PAGE_DEADLINE, || async {
            if self.eval(&focus).await? == Value::Bool(true) {
                self.press(key).await?;
            }
            Ok((self.eval(done).await? == Value::Bool(true)).then_some(()))
        })
        .await
    }

    /// Presses and releases `key` on the keyboard, wherever the focus is.
    pub async fn press(&self, key: fantoccini::key::Key) -> anyhow::Result<()> {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let value = char::from(key);
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client.perform_actions(keys).await?;
        Ok(())
    }

    /// Sets a filter input's value as a user would, firing its input event.
    pub async fn set_input(&self, css: &str, value: &str) -> anyhow::Result<()> {
        self.client
            .execute(
                "const input = document.querySelector(arguments[0]); input.value = arguments[1]; \
                 input.dispatchEvent(new Event('input', { bubbles: true }));",
                vec![json!(css), json!(value)],
            )
            .await?;
        Ok(())
    }

    /// Saves a screenshot as `<name>.png` among the test artifacts
    /// (`target/tmp/screenshots`); returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&directory)?;
        let path = directory.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await?)?;
        Ok(path)
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
