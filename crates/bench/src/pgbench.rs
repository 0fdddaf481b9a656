//! The ceiling: the store's booking transaction run by `pgbench`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// What pgbench measured.
#[derive(Debug, Clone)]
pub struct Ceiling {
    /// Transactions per second (without initial connection time).
    pub tps: f64,
    pub transactions: u64,
    pub failed: u64,
    pub latency_avg_ms: f64,
}

/// Where pgbench is: `PGBENCH`, then PATH, then PostgreSQL 15's directory.
pub fn find_pgbench() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PGBENCH")
        && !p.is_empty()
    {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pgbench"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        ["17", "16", "15", "14", "13"]
            .iter()
            .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/pgbench")))
            .find(|p| p.is_file())
    })
}

/// Runs `script` with `clients` clients for `duration` against `database_url`
/// (a blocking call: run it on a blocking thread). Every script gets `i=0`
/// (a per-client counter) and `nclients`; `defines` are its other variables.
pub fn run(
    pgbench: &Path,
    script: &Path,
    database_url: &str,
    clients: usize,
    duration: Duration,
    defines: &[(&str, String)],
) -> anyhow::Result<Ceiling> {
    let threads = clients.clamp(1, 2);
    let mut command = Command::new(pgbench);
    command
        // As the store's connections (see Store::connect).
        .env("PGOPTIONS", "-c plan_cache_mode=force_generic_plan")
        .arg("-n")
        .args(["-M", "prepared"])
        .arg("-f")
        .arg(script)
        .args(["-c", &clients.to_string()])
        .args(["-j", &threads.to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .args(["-D", "i=0"])
        .args(["-D", &format!("nclients={clients}")]);
    for (name, value) in defines {
        command.args(["-D", &format!("{name}={value}")]);
    }
    let output = command
        .arg(database_url)
        .output()
        .with_context(|| format!("could not run {}", pgbench.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("pgbench failed ({}):\n{stdout}\n{stderr}", output.status);
    }
    parse(&stdout).with_context(|| format!("could not read pgbench's report:\n{stdout}\n{stderr}"))
}

fn parse(report: &str) -> anyhow::Result<Ceiling> {
    let number_after = |prefix: &str| -> Option<f64> {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    let tps = number_after("tps = ").context("no tps line")?;
    Ok(Ceiling {
        tps,
        transactions: number_after("number of transactions actually processed:").unwrap_or(0.0)
            as u64,
        failed: number_after("number of failed transactions:").unwrap_or(0.0) as u64,
        latency_avg_ms: number_after("latency average =").unwrap_or(f64::NAN),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pgbench_15_reports() {
        let report = "transaction type: bench/booking.sql\nscaling factor: 1\nquery mode: prepared\n\
            number of clients: 16\nnumber of threads: 2\nmaximum number of tries: 1\nduration: 20 s\n\
            number of transactions actually processed: 16234\nnumber of failed transactions: 0 (0.000%)\n\
            latency average = 19.713 ms\ninitial connection time = 25.111 ms\n\
            tps = 811.650797 (without initial connection time)\n";
        let c = parse(report).unwrap();
        assert!((c.tps - 811.650797).abs() < 1e-6);
        assert_eq!(c.transactions, 16234);
        assert_eq!(c.failed, 0);
        assert!((c.latency_avg_ms - 19.713).abs() < 1e-9);
    }
}
