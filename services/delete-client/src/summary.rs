//! What a Delete Client job tells the user: its messages and its results file.
//! Pure functions over per-table counts, unit-tested here.

use bgjobs_database::catalog::delete_client::{CLIENTS_TABLE, TableRows};
use bgjobs_domain::JobId;
use bgjobs_domain::upload::results::{safe_cell, thousands};

/// Whether the job deletes or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Report what would be deleted; change nothing.
    DryRun,
    /// Delete.
    Delete,
}

/// "Deleted 1,234 products and the client", or for a dry run "Dry run: would
/// delete 1,234 products and the client". `client_row` says whether the client row
/// is (or would be) deleted too.
pub fn completion_message(mode: Mode, owned: &[TableRows], client_row: bool) -> String {
    let mut parts: Vec<String> = owned.iter().map(|counted| amount(*counted)).collect();
    if client_row {
        parts.push("the client".to_owned());
    }
    let what = match parts.as_slice() {
        [] => "nothing".to_owned(),
        [only] => only.clone(),
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    };
    match mode {
        Mode::DryRun => format!("Dry run: would delete {what}"),
        Mode::Delete => format!("Deleted {what}"),
    }
}

/// "Dry run: would delete 1,234 products and the client 'ACME Corp'": a dry run names
/// the client, whose name the page then asks to be typed to confirm the deletion.
pub fn dry_run_message(owned: &[TableRows], client_name: &str) -> String {
    format!("{} '{client_name}'", completion_message(Mode::DryRun, owned, true))
}

/// Whether `typed` confirms deleting the client named `client_name`: the name exactly,
/// but for surrounding spaces.
pub fn confirms(typed: &str, client_name: &str) -> bool {
    typed.trim() == client_name.trim()
}

/// Why a deletion confirmed with the wrong name failed.
pub fn wrong_name_message(typed: &str, client_id: &str) -> String {
    format!(
        "nothing was deleted: '{}' is not the name of client '{client_id}'; type the \
         client's name exactly as the dry run shows it",
        typed.trim()
    )
}

/// The completion of a job whose client an earlier job already deleted.
pub fn already_deleted_message(mode: Mode, client_id: &str, earlier: JobId) -> String {
    match mode {
        Mode::DryRun => format!(
            "Dry run: would delete nothing; client '{client_id}' was already deleted by job {earlier}"
        ),
        Mode::Delete => {
            format!("Deleted nothing; client '{client_id}' was already deleted by job {earlier}")
        }
    }
}

/// "Deleted 500 of 1,234 products": a Progress message.
pub fn progress_message(deleted: u64, total: u64, table: &'static str) -> String {
    let (_, plural) = nouns(table);
    format!("Deleted {} of {} {plural}", thousands(deleted), thousands(total))
}

/// The results file: `table,deleted` (or `table,would_delete` for a dry run), one line
/// per client-owned table, then `clients` with 1 when the client row is deleted. Every
/// cell is quoted, as in the upload jobs' results files, so that a spreadsheet reads
/// each cell whole.
pub fn results_csv(
    mode: Mode,
    owned: &[TableRows],
    client_row: bool,
) -> Result<Vec<u8>, csv::Error> {
    let count_column = match mode {
        Mode::DryRun => "would_delete",
        Mode::Delete => "deleted",
    };
    let mut writer =
        csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
    writer.write_record(["table", count_column])?;
    for counted in owned {
        writer.write_record([&*safe_cell(counted.table), &counted.rows.to_string()])?;
    }
    let client_rows = if client_row { "1" } else { "0" };
    writer.write_record([CLIENTS_TABLE, client_rows])?;
    writer.into_inner().map_err(|error| csv::Error::from(error.into_error()))
}

/// "1,234 products", "1 product".
fn amount(counted: TableRows) -> String {
    let (singular, plural) = nouns(counted.table);
    let noun = if counted.rows == 1 { singular } else { plural };
    format!("{} {noun}", thousands(counted.rows))
}

/// How users call the rows of a client-owned table; a table not named here is
/// shown as "rows of <table>".
fn nouns(table: &'static str) -> (String, String) {
    match table {
        "products" => ("product".to_owned(), "products".to_owned()),
        other => (format!("row of {other}"), format!("rows of {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn products(rows: u64) -> TableRows {
        TableRows { table: "products", rows }
    }

    #[test]
    fn a_repeat_names_the_job_that_deleted_the_client() {
        let earlier: JobId = "01a22373-318c-7232-a9e7-4bc6cfb3e93f".parse().unwrap();
        assert_eq!(
            already_deleted_message(Mode::Delete, "acme", earlier),
            "Deleted nothing; client 'acme' was already deleted by job 01a22373-318c-7232-a9e7-4bc6cfb3e93f"
        );
        assert_eq!(
            already_deleted_message(Mode::DryRun, "acme", earlier),
            "Dry run: would delete nothing; client 'acme' was already deleted by job 01a22373-318c-7232-a9e7-4bc6cfb3e93f"
        );
    }

    #[test]
    fn a_deletion_names_its_counts_and_the_client() {
        assert_eq!(
            completion_message(Mode::Delete, &[products(1234)], true),
            "Deleted 1,234 products and the client"
        );
        assert_eq!(
            completion_message(Mode::Delete, &[products(1)], true),
            "Deleted 1 product and the client"
        );
        assert_eq!(
            completion_message(Mode::Delete, &[products(0)], true),
            "Deleted 0 products and the client"
        );
    }

    #[test]
    fn a_dry_run_says_what_it_would_delete() {
        assert_eq!(
            completion_message(Mode::DryRun, &[products(1234)], true),
            "Dry run: would delete 1,234 products and the client"
        );
    }

    #[test]
    fn a_dry_run_names_the_client() {
        assert_eq!(
            dry_run_message(&[products(7)], "ACME Corp"),
            "Dry run: would delete 7 products and the client 'ACME Corp'"
        );
    }

    #[test]
    fn only_the_exact_name_confirms_a_deletion() {
        assert!(confirms("ACME Corp", "ACME Corp"));
        assert!(confirms("  ACME Corp ", "ACME Corp"));
        assert!(!confirms("acme corp", "ACME Corp"));
        assert!(!confirms("acme", "ACME Corp"));
        assert!(!confirms("", "ACME Corp"));
        assert_eq!(
            wrong_name_message(" acme ", "acme"),
            "nothing was deleted: 'acme' is not the name of client 'acme'; type the client's \
             name exactly as the dry run shows it"
        );
    }

    #[test]
    fn several_tables_are_listed_with_commas_and_a_final_and() {
        let owned = [products(3), TableRows { table: "addresses", rows: 2 }];
        assert_eq!(
            completion_message(Mode::Delete, &owned, true),
            "Deleted 3 products, 2 rows of addresses and the client"
        );
    }

    #[test]
    fn progress_counts_against_the_total() {
        assert_eq!(progress_message(500, 1234, "products"), "Deleted 500 of 1,234 products");
    }

    #[test]
    fn the_results_file_has_a_line_per_table_and_the_client() -> Result<(), csv::Error> {
        let deleted = String::from_utf8_lossy(&results_csv(Mode::Delete, &[products(1234)], true)?)
            .into_owned();
        assert_eq!(deleted, "\"table\",\"deleted\"\n\"products\",\"1234\"\n\"clients\",\"1\"\n");
        let dry =
            String::from_utf8_lossy(&results_csv(Mode::DryRun, &[products(7)], true)?).into_owned();
        assert_eq!(dry, "\"table\",\"would_delete\"\n\"products\",\"7\"\n\"clients\",\"1\"\n");
        Ok(())
    }
}
