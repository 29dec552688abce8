//! What processes use while the benchmark runs: CPU time and peak resident memory,
//! read from `/proc` (Linux).

use std::collections::HashMap;
use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU times (`getconf CLK_TCK`).
fn ticks_per_second() -> f64 {
    let output = std::process::Command::new("getconf").arg("CLK_TCK").output();
    let ticks = output.ok().and_then(|out| String::from_utf8(out.stdout).ok());
    ticks.and_then(|text| text.trim().parse().ok()).unwrap_or(100.0)
}

/// The CPU time `pid` has used so far (user and system), if it still runs.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(Duration::from_secs_f64(ticks / ticks_per_second()))
}

/// The peak resident set of `pid` in bytes (`VmHWM`), if it still runs.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The processes named `command` (as `/proc/<pid>/comm` has it, e.g. `postgres`).
fn processes_named(command: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim_end() == command
        })
        .collect()
}

/// CPU time of every process named `command`, at one moment.
#[derive(Debug, Clone, Default)]
pub struct GroupCpu(HashMap<u32, Duration>);

impl GroupCpu {
    /// Reads the CPU time of every process named `command` now.
    pub fn read(command: &str) -> Self {
        let pids = processes_named(command);
        Self(pids.into_iter().filter_map(|pid| Some((pid, cpu_time(pid)?))).collect())
    }

    /// The CPU time the group used between `self` and `later`: what each process that
    /// ran at both moments added, and all of what a process started since used (one
    /// that ended in between is not counted).
    pub fn used_until(&self, later: &Self) -> Duration {
        later
            .0
            .iter()
            .map(|(pid, then)| then.saturating_sub(self.0.get(pid).copied().unwrap_or_default()))
            .sum()
    }
}
