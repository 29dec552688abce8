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

/// How long the page may take to show what a test waits for.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// A browser session; chromedriver (and with it Chromium) stops when it is dropped.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    /// Where the browser saves downloads.
    pub downloads: PathBuf,
    _driver: Child,
    _profile: tempdir::Dir,
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
        let port = free_port()?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver; run deploy/browser.sh to install it")?;
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
                    "--disable-dev-shm-usage", "--window-size=1400,900",
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

    /// Opens `url` signed in with `token` (handed over in the fragment, as an identity
    /// provider's redirect does).
    pub async fn open_signed_in(
        &self,
        base: &str,
        path_and_query: &str,
        token: &str,
    ) -> anyhow::Result<()> {
        self.client.goto(&format!("{base}{path_and_query}#access_token={token}")).await?;
        Ok(())
    }

    /// Evaluates `expression` in the page.
    pub async fn eval(&self, expression: &str) -> anyhow::Result<Value> {
        Ok(self.client.execute(&format!("return ({expression});"), vec![]).await?)
    }

    /// Waits until `expression` is truthy in the page; returns its value.
    pub async fn wait_for(&self, what: &str, expression: &str) -> anyhow::Result<Value> {
        wait::until(what, PAGE_DEADLINE, || async {
            let value = self.eval(expression).await?;
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            Ok(truthy.then_some(value))
        })
        .await
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
