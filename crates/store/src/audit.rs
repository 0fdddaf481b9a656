//! [`AuditLog`]: entries are inserted and never changed or deleted (there is
//! no update or delete path in the store).

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::EntityTrait;
use voice_scheduler_domain::ports::{Actor, AuditEntry, AuditLog};

use crate::entities::audit_log;
use crate::rows::{storable, storable_owned, whole_seconds};
use crate::{Step, Store, fail};

/// `audit_log.actor_kind` and `actor_id` of an actor.
fn actor(actor: Actor) -> (&'static str, Option<String>) {
    match actor {
        Actor::User(id) => ("user", Some(id.to_string())),
        Actor::Anonymous => ("anonymous", None),
        Actor::System => ("system", None),
        Actor::VapiCall(call) => ("vapi_call", Some(storable(&call).into_owned())),
    }
}

#[async_trait]
impl AuditLog for Store {
    async fn record(&self, entry: AuditEntry) -> anyhow::Result<()> {
        let action = entry.action;
        let (actor_kind, actor_id) = actor(entry.actor);
        let row = audit_log::ActiveModel {
            id: NotSet,
            at: Set(whole_seconds(entry.at)),
            actor_kind: Set(actor_kind.to_owned()),
            actor_id: Set(actor_id),
            action: Set(storable(action).into_owned()),
            resource: Set(storable_owned(entry.resource)),
            outcome: Set(storable(entry.outcome).into_owned()),
            address: Set(storable_owned(entry.address)),
            detail: Set(storable_owned(entry.detail)),
        };
        self.with_retries("record an audit entry", || {
            let row = row.clone();
            async move {
                let _gate = self.lock_writes().await;
                match audit_log::Entity::insert(row)
                    .exec_without_returning(&self.db)
                    .await
                    .with_context(|| format!("could not record the audit entry '{action}'"))
                {
                    Ok(_) => Step::Done(Ok(())),
                    Err(e) => fail(e),
                }
            }
        })
        .await
    }
}
