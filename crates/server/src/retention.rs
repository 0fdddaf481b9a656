//! The daily housekeeping job.
//!
//! - Audit-log retention: entries older than `AUDIT_RETENTION_DAYS` are
//!   deleted by the daily job and by `voice-scheduler audit purge`. Both go
//!   through [`purge_audit`], the only caller of the store's only delete
//!   path for the log ([`Store::purge_audit`]); the purge is itself recorded
//!   (`audit.purge`, by the system).
//! - Sign-ins: [`prune_sign_ins`] deletes the sign-ins (and their refresh
//!   tokens) over for [`SIGN_INS_KEPT_DAYS`], and the failed sign-ins the
//!   login throttle no longer counts (a day old). Without it both tables
//!   would only grow, and failed sign-ins name e-mail and client addresses.

use std::time::Duration as StdDuration;

use anyhow::Context;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use tokio::task::JoinHandle;
use voice_scheduler_domain::ports::{Actor, AuditEntry, AuditLog, Clock};
use voice_scheduler_store::Store;

/// How long after start the job first runs (start-up stays quick, and an
/// instance that crash-loops does not purge on every start).
pub const FIRST_RUN_AFTER: StdDuration = StdDuration::from_secs(60);
/// How often the job runs.
pub const EVERY: StdDuration = StdDuration::from_secs(24 * 60 * 60);

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Entries removed.
    pub removed: u64,
    /// Entries recorded before this instant were removed.
    pub before: DateTime<Utc>,
}

/// Deletes the audit entries older than `retention_days` (counted back from
/// the clock's now) and records the purge as `audit.purge` by the system.
/// With `record_empty` false, a purge that removed nothing is not recorded
/// (the daily job: the log is not filled with "nothing to do").
pub async fn purge_audit(
    store: &Store,
    retention_days: i64,
    clock: &dyn Clock,
    record_empty: bool,
) -> anyhow::Result<Purged> {
    let now = clock.now();
    let before = now - Duration::days(retention_days);
    let removed = store
        .purge_audit(before)
        .await
        .context("purging the audit log")?;
    if removed > 0 || record_empty {
        let entry = AuditEntry {
            at: now,
            actor: Actor::System,
            action: "audit.purge",
            resource: None,
            outcome: "success",
            address: None,
            detail: Some(format!(
                "removed {removed} entries recorded before {} (retention {retention_days} days)",
                before.to_rfc3339_opts(SecondsFormat::Secs, true)
            )),
        };
        // The purge has happened: failing to record it is logged, not fatal.
        if let Err(e) = AuditLog::record(store, entry).await {
            tracing::error!(error = %e, "could not record the audit purge");
        }
    }
    Ok(Purged { removed, before })
}

/// Sign-ins are kept this many days after they ended or expired (who was
/// signed in when, for an inquiry), then deleted with their refresh tokens.
pub const SIGN_INS_KEPT_DAYS: i64 = 30;

/// What [`prune_sign_ins`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunedSignIns {
    /// Sign-ins (refresh-token families) over for [`SIGN_INS_KEPT_DAYS`].
    pub sessions: u64,
    /// Failed sign-ins older than a day.
    pub login_failures: u64,
}

/// Deletes the sign-ins that ended or expired more than
/// [`SIGN_INS_KEPT_DAYS`] before the clock's now (with their refresh
/// tokens), and the failed sign-ins the throttle no longer counts.
pub async fn prune_sign_ins(store: &Store, clock: &dyn Clock) -> anyhow::Result<PrunedSignIns> {
    let now = clock.now();
    let sessions = store
        .prune_sessions(now - Duration::days(SIGN_INS_KEPT_DAYS))
        .await
        .context("pruning the sign-ins")?;
    let login_failures = store
        .prune_login_failures(now)
        .await
        .context("pruning the failed sign-ins")?;
    Ok(PrunedSignIns {
        sessions,
        login_failures,
    })
}

/// Starts the daily housekeeping: first after [`FIRST_RUN_AFTER`], then
/// every [`EVERY`]. A failed part is logged and tried again the next day.
pub fn spawn_daily_purge(
    store: Store,
    retention_days: i64,
    clock: std::sync::Arc<dyn Clock>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + FIRST_RUN_AFTER, EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match purge_audit(&store, retention_days, clock.as_ref(), false).await {
                Ok(done) => tracing::info!(
                    removed = done.removed,
                    before = %done.before,
                    "audit log retention applied"
                ),
                Err(e) => tracing::error!(error = ?e, "the audit log retention job failed"),
            }
            match prune_sign_ins(&store, clock.as_ref()).await {
                Ok(done) => tracing::info!(
                    sessions = done.sessions,
                    login_failures = done.login_failures,
                    "old sign-ins pruned"
                ),
                Err(e) => tracing::error!(error = ?e, "pruning old sign-ins failed"),
            }
        }
    })
}
