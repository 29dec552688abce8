//! The tenant probe: 1,000 requests by the users of two accounts, each mixing the other
//! account's job ids, filters, page cursors, download links and client into every read
//! and write path of the API. No answer carries a byte that names the other account's
//! data, and none of either account's jobs changes.

use std::collections::BTreeMap;

use bgjobs_proto::v1::ListJobsRequest;
use bgjobs_test_support::wait;
use reqwest::Method;

use crate::helpers::{DEADLINE, TestGateway, Who, product_file};

/// Requests in the probe.
const REQUESTS: usize = 1000;

/// What one account's user has and shows: their jobs, a completed job's download
/// link, a page cursor of their list, and the words that name their data.
struct Tenant {
    who: Who,
    jobs: Vec<String>,
    link: String,
    cursor: String,
    client: String,
    user_name: String,
    /// Words that only this account's data contains.
    markers: Vec<String>,
}

/// A small deterministic generator (xorshift), so that a failing mix can be replayed.
struct Mix(u64);

impl Mix {
    fn pick(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % below as u64).unwrap_or(0)
    }
}

/// Every job of `account` as the registry holds it, by id, printed whole.
async fn snapshot(
    gateway: &TestGateway,
    account: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let request = ListJobsRequest {
        account_id: account.to_owned(),
        page_size: 200,
        ..ListJobsRequest::default()
    };
    let jobs = gateway.system.registry.clone().list_jobs(request).await?.into_inner().jobs;
    Ok(jobs.into_iter().map(|job| (job.job_id.clone(), format!("{job:?}"))).collect())
}

/// The jobs, a download link and a page cursor of `who`, after a completed upload, a
/// failed one and a dry-run deletion of `client`.
async fn tenant(
    gateway: &TestGateway,
    who: Who,
    client: &str,
    user_name: &str,
) -> anyhow::Result<Tenant> {
    let upload = format!("/api/v1/jobs/product-upload?client_id={client}&file_name=p.csv");
    let mut jobs = Vec::new();
    for (path, body) in [
        (upload.as_str(), Some(product_file(3))),
        (upload.as_str(), Some("name\nno sku column\n".to_owned())),
        (&*format!("/api/v1/jobs/delete-client?client_id={client}&dry_run=true"), None),
    ] {
        let mut request = gateway.request(Method::POST, path, who);
        if let Some(body) = body {
            request = request.header("content-type", "text/csv").body(body);
        }
        let answer: serde_json::Value = request.send().await?.json().await?;
        let job_id = answer["job_id"].as_str().unwrap_or_default().to_owned();
        anyhow::ensure!(!job_id.is_empty(), "{who:?} could not start a job: {answer}");
        let path = format!("/api/v1/jobs/{job_id}");
        wait::until("the tenant's job to end", DEADLINE, || async {
            let (_, details) = gateway.get(&path, who).await?;
            let status = details["job"]["status"].as_str().unwrap_or_default().to_owned();
            Ok(["completed", "error"].contains(&status.as_str()).then_some(()))
        })
        .await?;
        jobs.push(job_id);
    }
    let (_, link) = gateway.post(&format!("/api/v1/jobs/{}/download-link", jobs[0]), who).await?;
    let (_, page) = gateway.get("/api/v1/jobs?page_size=1", who).await?;
    let cursor = page["next_page_token"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(!cursor.is_empty(), "{who:?} has one page only: {page}");
    let (_, me) = gateway.get("/api/v1/me", who).await?;
    let account = me["account"].as_str().unwrap_or_default().to_owned();
    // The client id is left out: a user may name any client id in their own account.
    let mut markers = jobs.clone();
    markers.extend([account, user_name.to_owned()]);
    Ok(Tenant {
        who,
        jobs,
        link: link["url"].as_str().unwrap_or_default().to_owned(),
        cursor,
        client: client.to_owned(),
        user_name: user_name.to_owned(),
        markers,
    })
}

#[tokio::test]
async fn a_thousand_mixed_requests_never_cross_between_two_accounts() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let accounts =
        [gateway.system.account.clone(), bgjobs_domain::AccountId::parse(&gateway.other_account)?];
    let olgas_client = "olgas-client";
    gateway.system.store.catalog().ensure_client(&accounts[1], olgas_client, "Olga's").await?;
    let a = tenant(&gateway, Who::Operator, &gateway.system.client_id, "Omar Operator").await?;
    let b = tenant(&gateway, Who::OtherAccount, olgas_client, "Olga Other").await?;
    let accounts = accounts.map(|account| account.to_string());
    let before = [snapshot(&gateway, &accounts[0]).await?, snapshot(&gateway, &accounts[1]).await?];

    let mut mix = Mix(0x9e37_79b9_7f4a_7c15);
    let mut leaks = Vec::new();
    let mut started = 0;
    for n in 0..REQUESTS {
        let (caller, other) = if mix.pick(2) == 0 { (&a, &b) } else { (&b, &a) };
        // Most requests name the other account's things; some name the caller's own.
        let tenant_of_ids = if mix.pick(4) == 0 { caller } else { other };
        let job = &tenant_of_ids.jobs[mix.pick(tenant_of_ids.jobs.len())];
        let (method, path, body) = match mix.pick(9) {
            0 => (Method::GET, format!("/api/v1/jobs/{job}"), None),
            1 => (Method::POST, format!("/api/v1/jobs/{}/retry", other.jobs[mix.pick(3)]), None),
            2 => (Method::POST, format!("/api/v1/jobs/{job}/download-link"), None),
            3 => (
                Method::GET,
                format!("/api/v1/jobs?created_by={}", tenant_of_ids.user_name.replace(' ', "%20")),
                None,
            ),
            4 => (
                Method::GET,
                format!("/api/v1/jobs?page_size=1&page_token={}", tenant_of_ids.cursor),
                None,
            ),
            5 => (
                Method::GET,
                "/api/v1/jobs?status=error,completed&type=product-upload".into(),
                None,
            ),
            // The other account's link, and the caller's link pointed at the other's job.
            6 => (Method::GET, path_of(&other.link), None),
            7 => {
                let own = path_of(&caller.link);
                (Method::GET, own.replace(&caller.jobs[0], &other.jobs[0]), None)
            }
            _ if started < 20 => {
                started += 1;
                let path = format!(
                    "/api/v1/jobs/product-upload?client_id={}&file_name=probe.csv",
                    other.client
                );
                (Method::POST, path, Some(product_file(1)))
            }
            _ => (Method::GET, "/api/v1/me".into(), None),
        };
        let mut request = gateway.request(method.clone(), &path, caller.who);
        if let Some(body) = body {
            request = request.header("content-type", "text/csv").body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        for marker in &other.markers {
            if mentions(&text, marker) {
                leaks.push(format!(
                    "#{n} {method} {path} as {:?} ({status}) shows '{marker}'",
                    caller.who
                ));
            }
        }
        if status >= 500 {
            leaks.push(format!("#{n} {method} {path} as {:?}: {status} {text}", caller.who));
        }
    }
    assert!(leaks.is_empty(), "{} answers crossed accounts:\n{}", leaks.len(), leaks.join("\n"));

    // Nothing of either account changed; the uploads went to the caller's own account.
    for (account, earlier) in accounts.iter().zip(before) {
        let now = snapshot(&gateway, account).await?;
        for (job_id, was) in &earlier {
            assert_eq!(now.get(job_id), Some(was), "job {job_id} of {account} changed");
        }
    }
    assert_eq!(started, 20, "the mix made its uploads");
    gateway.stop().await
}

/// Whether `text` holds `word` whole: not as the end of a longer name (the other
/// account's id is `other-<this account's id>`).
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

/// The path and query of a download link (`http://host/api/...` or `/api/...`).
fn path_of(link: &str) -> String {
    match link.find("/api/") {
        Some(start) => link[start..].to_owned(),
        None => link.to_owned(),
    }
}
