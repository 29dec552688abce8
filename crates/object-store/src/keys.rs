//! Object keys of job files (docs/architecture.md, "Contracts"): made by the system from ids that
//! are already key-safe, never from a user's file name, so a name cannot reach another account's
//! prefix or escape with `../`.

use bgjobs_domain::{AccountId, JobId};

/// `uploads/<account>/<job id>/input.csv`: the file a job reads.
pub fn upload_input(account: &AccountId, job: JobId) -> String {
    format!("uploads/{account}/{job}/input.csv")
}

/// `results/<account>/<job id>/results.csv`: the file a job writes for download.
pub fn results(account: &AccountId, job: JobId) -> String {
    format!("results/{account}/{job}/results.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_by_account_and_job() {
        let account = AccountId::parse("acme-eu_1").expect("valid account");
        let job: JobId = "0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b".parse().expect("valid job id");
        assert_eq!(
            upload_input(&account, job),
            "uploads/acme-eu_1/0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b/input.csv"
        );
        assert_eq!(
            results(&account, job),
            "results/acme-eu_1/0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b/results.csv"
        );
    }
}
