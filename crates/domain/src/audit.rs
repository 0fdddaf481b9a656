//! The audit trail: recording entries without ever failing the operation
//! they describe, and reading them back (administrators only).
//!
//! What is recorded, by whom: sign-ins and account changes
//! ([`AccountService`](crate::accounts::AccountService)), bookings made,
//! moved and cancelled ([`SchedulingService`](crate::SchedulingService)),
//! calendar changes ([`CalendarService`](crate::calendars::CalendarService)).
//! Personal data is masked before an entry is made: phone numbers and email
//! addresses only as [`PhoneNumber::masked`](crate::PhoneNumber::masked) and
//! [`Email::masked`](crate::Email::masked), never a name, a token or a
//! free-text reason.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::accounts::Principal;
use crate::ports::{AuditEntry, AuditLog, AuditQuery, AuditReader, AuditRecord};

/// The most entries one page holds.
pub const MAX_AUDIT_PAGE: u64 = 200;

/// Records `entry` when there is a log. A failure is logged, never returned:
/// the operation the entry describes has already happened.
pub(crate) async fn record(log: Option<&Arc<dyn AuditLog>>, entry: AuditEntry) {
    let Some(log) = log else {
        return;
    };
    let action = entry.action;
    if let Err(e) = log.record(entry).await {
        tracing::error!(action, error = %e, "could not write an audit entry");
    }
}

/// A reading as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub outcome: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Where the previous page ended: its last (`at`, `id`).
    pub before: Option<(DateTime<Utc>, i64)>,
    /// 1..=[`MAX_AUDIT_PAGE`] (clamped).
    pub limit: u64,
}

/// One page of entries, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    pub next: Option<(DateTime<Utc>, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditReadError {
    #[error("only administrators can read the audit log")]
    Forbidden,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// The audit log as administrators read it.
#[derive(Clone)]
pub struct AuditTrail {
    reader: Arc<dyn AuditReader>,
}

impl AuditTrail {
    pub fn new(reader: Arc<dyn AuditReader>) -> Self {
        Self { reader }
    }

    /// One page of entries matching `filter`, newest first (`at`, then `id`,
    /// descending: a stable order for cursors).
    pub async fn list(
        &self,
        principal: &Principal,
        filter: AuditFilter,
    ) -> Result<AuditPage, AuditReadError> {
        if !principal.user.is_admin() {
            return Err(AuditReadError::Forbidden);
        }
        let limit = filter.limit.clamp(1, MAX_AUDIT_PAGE);
        let mut items = self
            .reader
            .list(&AuditQuery {
                actor_id: filter.actor_id,
                action: filter.action,
                resource: filter.resource,
                outcome: filter.outcome,
                from: filter.from,
                to: filter.to,
                before: filter.before,
                limit: limit + 1,
            })
            .await
            .map_err(AuditReadError::Unknown)?;
        let more = u64::try_from(items.len()).unwrap_or(u64::MAX) > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = if more {
            items.last().map(|e| (e.at, e.id))
        } else {
            None
        };
        Ok(AuditPage { items, next })
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use chrono::Utc;

    use super::*;
    use crate::ports::Actor;

    struct Broken;

    #[async_trait]
    impl AuditLog for Broken {
        async fn record(&self, _: AuditEntry) -> anyhow::Result<()> {
            anyhow::bail!("the database is down")
        }
    }

    #[tokio::test]
    async fn a_failing_log_is_not_the_operations_failure() {
        let log: Arc<dyn AuditLog> = Arc::new(Broken);
        let entry = AuditEntry {
            at: Utc::now(),
            actor: Actor::System,
            action: "test.entry",
            resource: None,
            outcome: "success",
            address: None,
            detail: None,
        };
        // Returns (nothing to handle) whether there is a log, a broken one, or none.
        record(Some(&log), entry.clone()).await;
        record(None, entry).await;
    }
}
