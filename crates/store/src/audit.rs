//! [`AuditLog`] and [`AuditReader`]: entries are inserted and, with two
//! deliberate exceptions, never changed:
//! - one delete path, [`Store::purge_audit`], which removes entries older
//!   than the retention period and exists for that alone (the retention job
//!   and `voice-scheduler audit purge`);
//! - one anonymising update, when a user deletes their account
//!   (`privacy.rs`): their id in the entries they made becomes `erased-user`
//!   (what happened, when and the outcome stay).

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter, QuerySelect};
use voice_scheduler_domain::ports::{
    Actor, AuditEntry, AuditLog, AuditQuery, AuditReader, AuditRecord,
};

use crate::entities::audit_log::{self, Column};
use crate::rows::{ceil_seconds, storable, storable_owned, whole_seconds};
use crate::{Step, Store, fail, listing};

/// `audit_log.actor_kind` and `actor_id` of an actor.
fn actor(actor: Actor) -> (&'static str, Option<String>) {
    match actor {
        Actor::User(id) => ("user", Some(id.to_string())),
        Actor::Anonymous => ("anonymous", None),
        Actor::System => ("system", None),
        Actor::VapiCall(call) => ("vapi_call", Some(storable(&call).into_owned())),
    }
}

/// The row of `entry`, as every writer stores it.
fn row(entry: &AuditEntry) -> audit_log::ActiveModel {
    let (actor_kind, actor_id) = actor(entry.actor.clone());
    audit_log::ActiveModel {
        id: NotSet,
        at: Set(whole_seconds(entry.at)),
        actor_kind: Set(actor_kind.to_owned()),
        actor_id: Set(actor_id),
        action: Set(storable(entry.action).into_owned()),
        resource: Set(storable_owned(entry.resource.clone())),
        outcome: Set(storable(entry.outcome).into_owned()),
        address: Set(storable_owned(entry.address.clone())),
        detail: Set(storable_owned(entry.detail.clone())),
    }
}

/// The values of `entry`'s row in the order of [`AUDIT_COLUMNS`], for
/// statements that insert it alongside another change.
pub(crate) fn values(entry: &AuditEntry) -> [sea_orm::Value; 8] {
    let (actor_kind, actor_id) = actor(entry.actor.clone());
    [
        whole_seconds(entry.at).into(),
        actor_kind.to_owned().into(),
        actor_id.into(),
        storable(entry.action).into_owned().into(),
        storable_owned(entry.resource.clone()).into(),
        storable(entry.outcome).into_owned().into(),
        storable_owned(entry.address.clone()).into(),
        storable_owned(entry.detail.clone()).into(),
    ]
}

/// The columns [`values`] fills.
pub(crate) const AUDIT_COLUMNS: &str =
    r#""at", "actor_kind", "actor_id", "action", "resource", "outcome", "address", "detail""#;

/// Inserts `entry` on `db` (a transaction, to record a change in the same
/// commit as the change itself).
pub(crate) async fn insert<C: sea_orm::ConnectionTrait>(
    db: &C,
    entry: &AuditEntry,
) -> anyhow::Result<()> {
    audit_log::Entity::insert(row(entry))
        .exec_without_returning(db)
        .await
        .with_context(|| format!("could not record the audit entry '{}'", entry.action))?;
    Ok(())
}

#[async_trait]
impl AuditLog for Store {
    async fn record(&self, entry: AuditEntry) -> anyhow::Result<()> {
        self.with_retries("record an audit entry", || {
            let entry = &entry;
            async move {
                let _gate = self.lock_writes().await;
                match insert(&self.db, entry).await {
                    Ok(()) => Step::Done(Ok(())),
                    Err(e) => fail(e),
                }
            }
        })
        .await
    }
}

#[async_trait]
impl AuditReader for Store {
    async fn list(&self, query: &AuditQuery) -> anyhow::Result<Vec<AuditRecord>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = audit_log::Entity::find();
        if let Some(actor_id) = &query.actor_id {
            select = select.filter(Column::ActorId.eq(storable(actor_id).into_owned()));
        }
        if let Some(action) = &query.action {
            select = select.filter(Column::Action.eq(storable(action).into_owned()));
        }
        if let Some(resource) = &query.resource {
            select = select.filter(Column::Resource.eq(storable(resource).into_owned()));
        }
        if let Some(outcome) = &query.outcome {
            select = select.filter(Column::Outcome.eq(storable(outcome).into_owned()));
        }
        select = listing::within(select, Column::At, query.from, query.to);
        // Stored instants are whole seconds: a page bound between seconds
        // is before the same entries as its ceiling.
        let rows = listing::page(select, Column::At, Column::Id, Order::Desc, query.before)
            .limit(query.limit)
            .all(&self.db)
            .await
            .context("could not read the audit log")?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                id: row.id,
                at: row.at,
                actor_kind: row.actor_kind,
                actor_id: row.actor_id,
                action: row.action,
                resource: row.resource,
                outcome: row.outcome,
                address: row.address,
                detail: row.detail,
            })
            .collect())
    }
}

impl Store {
    /// Deletes the audit entries recorded before `before`; how many.
    ///
    /// This is the audit log's only delete path, and it exists for the
    /// retention period alone (`AUDIT_RETENTION_DAYS`: the daily retention
    /// job and `voice-scheduler audit purge`). Nothing else may call it: the
    /// log is otherwise append-only.
    pub async fn purge_audit(&self, before: DateTime<Utc>) -> anyhow::Result<u64> {
        // Entries are stored in whole seconds: those before `before` are
        // those before its ceiling.
        let before = ceil_seconds(before);
        self.delete_rows("purge the audit log", || {
            audit_log::Entity::delete_many().filter(Column::At.lt(before))
        })
        .await
    }
}
