//! `docs/configuration.md`, written from the declarations so it cannot drift.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::Variable;

/// The reference of every variable `services` read (each service's name with the
/// variables it reads), sorted by name, saying which services read each one.
///
/// # Panics
///
/// When two different declarations share a name: each variable is declared once.
pub fn render(services: &[(&str, Vec<&'static Variable>)]) -> String {
    let mut variables: BTreeMap<&str, (&Variable, Vec<&str>)> = BTreeMap::new();
    for (service, read) in services {
        for variable in read {
            let (known, readers) = variables.entry(variable.name).or_insert((variable, Vec::new()));
            assert!(std::ptr::eq(*known, *variable), "{} is declared twice", variable.name);
            readers.push(service);
        }
    }
    let mut out = String::from(INTRODUCTION);
    out.push_str("\n| Variable | Default | Read by |\n| --- | --- | --- |\n");
    for (name, (variable, readers)) in &variables {
        let default = match variable.default {
            Some("") => "empty".to_owned(),
            Some(default) => format!("`{default}`"),
            None => "none".to_owned(),
        };
        let _ =
            writeln!(out, "| [`{name}`](#{}) | {default} | {} |", anchor(name), readers.join(", "));
    }
    for (name, (variable, _)) in &variables {
        let secret = match (variable.secret, (variable.redact)("x")) {
            (false, _) => "",
            (true, redacted) if redacted == "x" => {
                " Secret: printed with its password as `<redacted>`."
            }
            (true, _) => " Secret: printed as `<redacted>`.",
        };
        let _ = write!(
            out,
            "\n### {name}\n\n{}\n\nAllowed: {}.{secret}\n",
            variable.doc.trim(),
            (variable.allowed)()
        );
    }
    out
}

fn anchor(name: &str) -> String {
    name.to_lowercase()
}

const INTRODUCTION: &str = "\
# Configuration

<!-- Written by the configuration reference test from the settings' declarations; \
run `make docs` after changing one. Do not edit by hand. -->

Every service reads its configuration from environment variables, once, at start-up.
A variable that is unset, empty or only spaces takes its default, in every service
alike; one without a default must be set when the service reads it. A value that is
not allowed stops start-up with one message naming the variable, its value (with any
password or secret replaced by `<redacted>`) and what is allowed.

With no variable set, every service talks to the local stack that `make run` starts.
`BGJOBS_PROFILE=production` keeps every rule but refuses the local stack's built-in
credentials (RabbitMQ's `guest:guest`, the object store's `bgjobs-local-secret`,
Postgres without a password, the gateway's demo users), naming each variable to set.

Each service prints its effective configuration, secrets redacted, with
`--print-config`, and exits. `jobsctl` takes `--registry`, `--ingest`, `--amqp-url`
and `--prefix` in place of the variables it reads, checked by the same rules.
";
