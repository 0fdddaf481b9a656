//! [`ReplayStore`]: replies remembered by (scope, key); the first one wins.

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{EntityTrait, TryInsertResult};
use voice_scheduler_domain::ports::{ReplayStore, StoredReply};

use crate::entities::tool_replies::{self, Column};
use crate::rows::{self, storable, whole_seconds};
use crate::{Step, Store, fail};

#[async_trait]
impl ReplayStore for Store {
    async fn find_reply(&self, scope: &str, key: &str) -> anyhow::Result<Option<StoredReply>> {
        Ok(tool_replies::Entity::find_by_id((
            storable(scope).into_owned(),
            storable(key).into_owned(),
        ))
        .one(&self.db)
        .await
        .with_context(|| format!("could not read the stored reply ({scope})"))?
        .map(rows::stored_reply))
    }

    async fn save_reply(
        &self,
        scope: &str,
        key: &str,
        reply: StoredReply,
    ) -> anyhow::Result<StoredReply> {
        let row = tool_replies::ActiveModel {
            scope: Set(storable(scope).into_owned()),
            key: Set(storable(key).into_owned()),
            fingerprint: Set(storable(&reply.fingerprint).into_owned()),
            body: Set(storable(&reply.body).into_owned()),
            created_at: Set(whole_seconds(Utc::now())),
        };
        // INSERT … ON CONFLICT (scope, key) DO NOTHING: the first reply wins.
        let inserted = self
            .with_retries("store a reply", || {
                let row = row.clone();
                async move {
                    let _gate = self.lock_writes().await;
                    match tool_replies::Entity::insert(row)
                        .on_conflict_do_nothing_on([Column::Scope, Column::Key])
                        .exec_without_returning(&self.db)
                        .await
                    {
                        Ok(TryInsertResult::Inserted(rows)) => {
                            Step::Done(Ok::<bool, anyhow::Error>(rows == 1))
                        }
                        Ok(TryInsertResult::Conflicted | TryInsertResult::Empty) => {
                            Step::Done(Ok(false))
                        }
                        Err(e) => fail(
                            anyhow::Error::new(e)
                                .context(format!("could not store a reply ({scope})")),
                        ),
                    }
                }
            })
            .await?;
        if inserted {
            // Ours is the first reply: no need to read it back.
            return Ok(reply);
        }
        self.find_reply(scope, key)
            .await?
            .with_context(|| format!("the stored reply ({scope}) vanished after it was stored"))
    }
}

impl Store {
    /// Replaces the body stored under (`scope`, `key`) with `body`, only if
    /// it is still `expected` (compare-and-swap, so two instances re-sealing
    /// one value at once cannot lose either's work). Answers whether it was
    /// replaced.
    pub async fn replace_reply_body(
        &self,
        scope: &str,
        key: &str,
        expected: &str,
        body: &str,
    ) -> anyhow::Result<bool> {
        use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
        let (scope_s, key_s) = (storable(scope), storable(key));
        let (expected, body) = (storable(expected), storable(body));
        self.with_retries("replace a stored reply", || async {
            let _gate = self.lock_writes().await;
            match tool_replies::Entity::update_many()
                .col_expr(Column::Body, Expr::value(body.as_ref()))
                .filter(Column::Scope.eq(scope_s.as_ref()))
                .filter(Column::Key.eq(key_s.as_ref()))
                .filter(Column::Body.eq(expected.as_ref()))
                .exec(&self.db)
                .await
            {
                Ok(done) => Step::Done(Ok::<bool, anyhow::Error>(done.rows_affected == 1)),
                Err(e) => fail(
                    anyhow::Error::new(e).context(format!("could not replace a reply ({scope})")),
                ),
            }
        })
        .await
    }
}
