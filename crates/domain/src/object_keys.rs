//! Object keys of a job's files (docs/architecture.md, "Object keys"): derived from the job's
//! account and id, never from a user's file name, and never taken from a request, a job message
//! or a job event. A key that arrives from elsewhere is only ever compared with the derived one,
//! so whoever can publish a message or call an API cannot point one account's job at another
//! account's file.

use std::fmt;

use crate::ids::{AccountId, JobId};

/// The longest part of a refused key quoted back in a message or a log line.
const QUOTED_KEY_MAX_CHARS: usize = 200;

/// A file of a job, each at one key per (account, job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFile {
    /// The uploaded file the job reads.
    Input,
    /// The results file the job writes for download.
    Results,
}

impl JobFile {
    /// The file's key for `job` of `account`.
    pub fn key(self, account: &AccountId, job: JobId) -> String {
        match self {
            Self::Input => format!("uploads/{account}/{job}/input.csv"),
            Self::Results => format!("results/{account}/{job}/results.csv"),
        }
    }

    /// `Ok` when `given` is this file's key for `job` of `account`; any other key, whatever
    /// it names, is refused.
    pub fn check(self, account: &AccountId, job: JobId, given: &str) -> Result<(), ForeignKey> {
        let expected = self.key(account, job);
        if given == expected {
            return Ok(());
        }
        Err(ForeignKey { file: self, expected, given: quoted(given) })
    }

    /// What the file is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Input => "input file",
            Self::Results => "results file",
        }
    }
}

/// `uploads/<account>/<job id>/input.csv`: the file a job reads.
pub fn input(account: &AccountId, job: JobId) -> String {
    JobFile::Input.key(account, job)
}

/// `results/<account>/<job id>/results.csv`: the file a job writes for download.
pub fn results(account: &AccountId, job: JobId) -> String {
    JobFile::Results.key(account, job)
}

/// A key received for a job's file that is not the key the system derives for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{given}' is not this job's {}; its key is '{expected}' (made from the account and the job id)",
    .file.name()
)]
pub struct ForeignKey {
    /// Which file the key was given for.
    pub file: JobFile,
    /// The key the job's file has.
    pub expected: String,
    /// The key received, cut to a bounded length.
    pub given: String,
}

/// `key` cut to [`QUOTED_KEY_MAX_CHARS`] characters, so a huge key cannot flood a message.
fn quoted(key: &str) -> String {
    match key.char_indices().nth(QUOTED_KEY_MAX_CHARS) {
        Some((end, _)) => format!("{}…", &key[..end]),
        None => key.to_owned(),
    }
}

impl fmt::Display for JobFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> AccountId {
        AccountId::parse("acme-eu_1").expect("valid account")
    }

    fn job() -> JobId {
        "0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b".parse().expect("valid job id")
    }

    #[test]
    fn keys_are_scoped_by_account_and_job() {
        assert_eq!(
            input(&acme(), job()),
            "uploads/acme-eu_1/0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b/input.csv"
        );
        assert_eq!(
            results(&acme(), job()),
            "results/acme-eu_1/0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b/results.csv"
        );
    }

    #[test]
    fn a_jobs_own_keys_pass_the_check() {
        for file in [JobFile::Input, JobFile::Results] {
            assert_eq!(file.check(&acme(), job(), &file.key(&acme(), job())), Ok(()));
        }
    }

    #[test]
    fn a_key_of_another_account_job_or_file_is_refused() {
        let other_account = AccountId::parse("globex").expect("valid account");
        let other_job = JobId::new();
        let refused = [
            (JobFile::Input, input(&other_account, job())),
            (JobFile::Input, input(&acme(), other_job)),
            (JobFile::Input, results(&acme(), job())),
            (JobFile::Results, results(&other_account, job())),
            (JobFile::Results, results(&acme(), other_job)),
            (JobFile::Results, input(&acme(), job())),
            (JobFile::Results, format!("results/acme-eu_1/{}/../../globex/x/results.csv", job())),
            (JobFile::Results, format!("/{}", results(&acme(), job()))),
            (JobFile::Results, format!("{} ", results(&acme(), job()))),
            (JobFile::Input, String::new()),
        ];
        for (file, given) in refused {
            let refusal = file.check(&acme(), job(), &given).expect_err(&given);
            assert_eq!(refusal.expected, file.key(&acme(), job()));
            assert_eq!(refusal.given, given);
        }
    }

    #[test]
    fn a_refusal_names_the_file_and_the_key_it_must_be() {
        let refusal = JobFile::Input
            .check(&acme(), job(), "uploads/globex/x/input.csv")
            .expect_err("another account's key");
        assert_eq!(
            refusal.to_string(),
            "'uploads/globex/x/input.csv' is not this job's input file; its key is \
             'uploads/acme-eu_1/0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b/input.csv' (made from the \
             account and the job id)"
        );
    }

    #[test]
    fn a_huge_refused_key_is_quoted_cut_short() {
        let given = "é".repeat(10_000);
        let refusal = JobFile::Results.check(&acme(), job(), &given).expect_err("not the key");
        assert_eq!(refusal.given.chars().count(), QUOTED_KEY_MAX_CHARS + 1);
        assert!(refusal.given.ends_with('…'));
    }
}
