//! [`LoginThrottle`]: failed sign-ins counted per key in the database, so
//! every instance sees the same counts. A key's failures older than a day
//! are forgotten when it fails again.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use voice_scheduler_domain::ports::LoginThrottle;

use crate::entities::login_failures::{self, Column};
use crate::rows::{storable, whole_seconds};
use crate::{Decision, Step, Store, fail, finish};

/// How long a failure is remembered (at least).
fn memory() -> Duration {
    Duration::days(1)
}

async fn record_in(
    txn: &DatabaseTransaction,
    keys: &[String],
    at: DateTime<Utc>,
) -> anyhow::Result<Decision<(), anyhow::Error>> {
    login_failures::Entity::insert_many(keys.iter().map(|key| login_failures::ActiveModel {
        id: NotSet,
        key: Set(key.clone()),
        failed_at: Set(at),
    }))
    .exec_without_returning(txn)
    .await
    .context("could not record a failed sign-in")?;
    login_failures::Entity::delete_many()
        .filter(Column::Key.is_in(keys.iter().map(String::as_str)))
        .filter(Column::FailedAt.lt(at - memory()))
        .exec(txn)
        .await
        .context("could not forget old failed sign-ins")?;
    Ok(Decision::Commit(()))
}

impl Store {
    /// Forgets the failed sign-ins older than the throttle remembers them
    /// (a day before `now`, longer than any throttle window): the failures
    /// of keys that never fail again would otherwise stay for good, and
    /// their keys hold e-mail addresses and client addresses. Answers how
    /// many were forgotten.
    pub async fn prune_login_failures(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let before = whole_seconds(now) - memory();
        self.delete_rows("prune failed sign-ins", || {
            login_failures::Entity::delete_many().filter(Column::FailedAt.lt(before))
        })
        .await
    }

    async fn try_record_failure(
        &self,
        keys: &[String],
        at: DateTime<Utc>,
    ) -> Step<anyhow::Result<()>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = record_in(&txn, keys, at).await;
        finish(txn, decided, "could not commit a failed sign-in").await
    }
}

#[async_trait]
impl LoginThrottle for Store {
    /// Times are whole seconds: a failure in the second `since` falls in
    /// counts (a throttle errs on the side of counting).
    async fn failures_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(u32, Option<DateTime<Utc>>)> {
        let key = storable(key);
        let since = whole_seconds(since);
        let recent = || {
            login_failures::Entity::find()
                .filter(Column::Key.eq(key.as_ref()))
                .filter(Column::FailedAt.gte(since))
        };
        let count = recent()
            .count(&self.db)
            .await
            .context("could not count failed sign-ins")?;
        if count == 0 {
            return Ok((0, None));
        }
        let earliest: Option<DateTime<Utc>> = recent()
            .select_only()
            .column(Column::FailedAt)
            .order_by_asc(Column::FailedAt)
            .into_tuple()
            .one(&self.db)
            .await
            .context("could not read the earliest failed sign-in")?;
        Ok((u32::try_from(count).unwrap_or(u32::MAX), earliest))
    }

    async fn record_failure(&self, keys: &[String], at: DateTime<Utc>) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<String> = keys.iter().map(|k| storable(k).into_owned()).collect();
        keys.sort();
        keys.dedup();
        let at = whole_seconds(at);
        self.with_retries("record a failed sign-in", || {
            self.try_record_failure(&keys, at)
        })
        .await
    }

    async fn clear(&self, key: &str) -> anyhow::Result<()> {
        let key = storable(key);
        let key = key.as_ref();
        self.delete_rows("clear failed sign-ins", || {
            login_failures::Entity::delete_many().filter(Column::Key.eq(key))
        })
        .await
        .map(|_| ())
    }
}
