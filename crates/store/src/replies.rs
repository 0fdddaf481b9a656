//! [`ReplayStore`]: replies remembered by (scope, key); the first one wins.

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use voice_scheduler_domain::ports::{ReplayStore, StoredReply};

use crate::entities::tool_replies::{self, Column};
use crate::rows::{self, whole_seconds};
use crate::{Step, Store, fail};

#[async_trait]
impl ReplayStore for Store {
    async fn find_reply(&self, scope: &str, key: &str) -> anyhow::Result<Option<StoredReply>> {
        Ok(
            tool_replies::Entity::find_by_id((scope.to_owned(), key.to_owned()))
                .one(&self.db)
                .await
                .with_context(|| format!("could not read the stored reply ({scope})"))?
                .map(rows::stored_reply),
        )
    }

    async fn save_reply(
        &self,
        scope: &str,
        key: &str,
        reply: StoredReply,
    ) -> anyhow::Result<StoredReply> {
        let row = tool_replies::ActiveModel {
            scope: Set(scope.to_owned()),
            key: Set(key.to_owned()),
            fingerprint: Set(reply.fingerprint),
            body: Set(reply.body),
            created_at: Set(whole_seconds(Utc::now())),
        };
        // INSERT … ON CONFLICT (scope, key) DO NOTHING: the first reply wins.
        self.with_retries("store a reply", || {
            let row = row.clone();
            async move {
                let _gate = self.lock_writes().await;
                match tool_replies::Entity::insert(row)
                    .on_conflict_do_nothing_on([Column::Scope, Column::Key])
                    .exec_without_returning(&self.db)
                    .await
                {
                    Ok(_) => Step::Done(Ok::<(), anyhow::Error>(())),
                    Err(e) => fail(
                        anyhow::Error::new(e).context(format!("could not store a reply ({scope})")),
                    ),
                }
            }
        })
        .await?;
        self.find_reply(scope, key)
            .await?
            .with_context(|| format!("the stored reply ({scope}) vanished after it was stored"))
    }
}
