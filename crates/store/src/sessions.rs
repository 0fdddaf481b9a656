//! [`SessionRepository`]: sign-ins (refresh-token families) and the digests
//! of their refresh tokens.
//!
//! A rotation marks the presented token used with one conditional `UPDATE …
//! WHERE used_at IS NULL AND <its family is live> RETURNING session_id` and
//! stores the next token in the same transaction. Of concurrent rotations of
//! one token the database lets exactly one update the row (PostgreSQL: the
//! others wait for its row lock, then find `used_at` set; SQLite: the
//! transactions run one after the other, `BEGIN IMMEDIATE`). A token that is
//! presented again after its use ends its whole family — including the
//! token the winning rotation just issued.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, Statement,
};
use uuid::Uuid;
use voice_scheduler_domain::ports::{RotateError, Session, SessionRepository};
use voice_scheduler_domain::user::TokenDigest;
use voice_scheduler_domain::{SessionId, UserId};

use crate::entities::{refresh_tokens, sessions};
use crate::rows::{self, whole_seconds};
use crate::{Decision, Step, Store, fail, finish};

/// Marks a live, unused token used; answers its family's id.
fn use_token(backend: DbBackend, presented: &str, now: DateTime<Utc>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            r#"UPDATE "refresh_tokens" SET "used_at" = $1
WHERE "digest" = $2 AND "used_at" IS NULL
  AND EXISTS (SELECT 1 FROM "sessions"
              WHERE "sessions"."id" = "refresh_tokens"."session_id"
                AND "sessions"."ended_at" IS NULL AND "sessions"."expires_at" > $3)
RETURNING "session_id""#
        }
        _ => {
            r#"UPDATE "refresh_tokens" SET "used_at" = ?
WHERE "digest" = ? AND "used_at" IS NULL
  AND EXISTS (SELECT 1 FROM "sessions"
              WHERE "sessions"."id" = "refresh_tokens"."session_id"
                AND "sessions"."ended_at" IS NULL AND "sessions"."expires_at" > ?)
RETURNING "session_id""#
        }
    };
    Statement::from_sql_and_values(
        backend,
        sql,
        [now.into(), presented.to_owned().into(), now.into()],
    )
}

fn live(session: &sessions::Model, now: DateTime<Utc>) -> bool {
    session.ended_at.is_none() && session.expires_at > now
}

async fn rotate_in(
    txn: &DatabaseTransaction,
    presented: &TokenDigest,
    next: &TokenDigest,
    now: DateTime<Utc>,
) -> anyhow::Result<Decision<Session, RotateError>> {
    let used = txn
        .query_all_raw(use_token(txn.get_database_backend(), &presented.0, now))
        .await
        .context("could not use the refresh token")?;
    if let Some(row) = used.first() {
        let session_id: Uuid = row
            .try_get("", "session_id")
            .context("could not read the session of the refresh token")?;
        // PostgreSQL: FOR SHARE waits for a concurrent logout to commit and
        // reads the family as it left it.
        let session = sessions::Entity::find_by_id(session_id)
            .lock_shared()
            .one(txn)
            .await
            .with_context(|| format!("could not read session {session_id}"))?
            .with_context(|| format!("session {session_id} vanished during a rotation"))?;
        if !live(&session, now) {
            return Ok(Decision::Refuse(RotateError::Ended(rows::session(session))));
        }
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            digest: Set(next.0.clone()),
            session_id: Set(session_id),
            issued_at: Set(now),
            used_at: Set(None),
        })
        .exec_without_returning(txn)
        .await
        .with_context(|| {
            format!("could not store the next refresh token of session {session_id}")
        })?;
        return Ok(Decision::Commit(rows::session(session)));
    }

    // Nothing was updated: say why.
    let found = refresh_tokens::Entity::find_by_id(presented.0.clone())
        .find_also_related(sessions::Entity)
        .one(txn)
        .await
        .context("could not look up the refresh token")?;
    let Some((token, session)) = found else {
        return Ok(Decision::Refuse(RotateError::Unknown));
    };
    let session = session.with_context(|| {
        format!(
            "the session {} of a refresh token is missing",
            token.session_id
        )
    })?;
    if token.used_at.is_some() {
        // Reuse: whoever presents it, the family can no longer be trusted.
        end_in(txn, session.id, now).await?;
        let ended = sessions::Entity::find_by_id(session.id)
            .one(txn)
            .await
            .with_context(|| format!("could not read back session {}", session.id))?
            .with_context(|| format!("session {} vanished while it was ended", session.id))?;
        return Ok(Decision::CommitRefusal(RotateError::Reused(rows::session(
            ended,
        ))));
    }
    if !live(&session, now) {
        return Ok(Decision::Refuse(RotateError::Ended(rows::session(session))));
    }
    Ok(Decision::Retry(
        "the refresh token changed during the rotation",
    ))
}

/// Ends session `id` at `at` unless it has ended already.
async fn end_in<C: ConnectionTrait>(db: &C, id: Uuid, at: DateTime<Utc>) -> anyhow::Result<u64> {
    let ended = sessions::Entity::update_many()
        .col_expr(sessions::Column::EndedAt, Expr::value(Some(at)))
        .filter(sessions::Column::Id.eq(id))
        .filter(sessions::Column::EndedAt.is_null())
        .exec(db)
        .await
        .with_context(|| format!("could not end session {id}"))?;
    Ok(ended.rows_affected)
}

impl Store {
    async fn try_start(
        &self,
        session: &sessions::Model,
        first_token: &TokenDigest,
    ) -> Step<anyhow::Result<()>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = async {
            sessions::Entity::insert(sessions::ActiveModel::from(session.clone()))
                .exec_without_returning(&txn)
                .await
                .with_context(|| format!("could not store session {}", session.id))?;
            refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
                digest: Set(first_token.0.clone()),
                session_id: Set(session.id),
                issued_at: Set(session.created_at),
                used_at: Set(None),
            })
            .exec_without_returning(&txn)
            .await
            .with_context(|| {
                format!(
                    "could not store the first refresh token of session {}",
                    session.id
                )
            })?;
            Ok(Decision::<(), anyhow::Error>::Commit(()))
        }
        .await;
        finish(txn, decided, "could not commit the new session").await
    }

    async fn try_rotate(
        &self,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Step<Result<Session, RotateError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = rotate_in(&txn, presented, next, now).await;
        finish(txn, decided, "could not commit the rotation").await
    }

    /// One write statement (after this process's write gate), retried when
    /// the database asks.
    async fn try_end(
        &self,
        what: &'static str,
        statement: sea_orm::UpdateMany<sessions::Entity>,
    ) -> Step<anyhow::Result<u64>> {
        let _gate = self.lock_writes().await;
        match statement.exec(&self.db).await {
            Ok(done) => Step::Done(Ok(done.rows_affected)),
            Err(e) => fail(anyhow::Error::new(e).context(what)),
        }
    }

    /// Deletes the sign-ins that ended or expired before `before`, with
    /// their refresh tokens (the foreign key cascades); answers how many
    /// sign-ins. Nothing can use them any more: a token of an ended or
    /// expired family is refused whether its row is there or not. (The
    /// server keeps them a while for inquiries: `retention::prune_sign_ins`.)
    pub async fn prune_sessions(&self, before: DateTime<Utc>) -> anyhow::Result<u64> {
        let before = whole_seconds(before);
        self.delete_rows("prune the sessions", || {
            sessions::Entity::delete_many().filter(
                Condition::any()
                    .add(sessions::Column::EndedAt.lt(before))
                    .add(sessions::Column::ExpiresAt.lt(before)),
            )
        })
        .await
    }
}

#[async_trait]
impl SessionRepository for Store {
    #[tracing::instrument(skip_all, fields(session = %session.id, user = %session.user))]
    async fn start(&self, session: &Session, first_token: &TokenDigest) -> anyhow::Result<()> {
        let row = sessions::Model {
            id: session.id.as_uuid(),
            user_id: session.user.as_uuid(),
            created_at: whole_seconds(session.created_at),
            expires_at: whole_seconds(session.expires_at),
            ended_at: session.ended_at.map(whole_seconds),
        };
        self.with_retries("start a session", || self.try_start(&row, first_token))
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn rotate(
        &self,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Session, RotateError> {
        let now = whole_seconds(now);
        self.with_retries("rotate a refresh token", || {
            self.try_rotate(presented, next, now)
        })
        .await
    }

    async fn find_by_token(&self, token: &TokenDigest) -> anyhow::Result<Option<Session>> {
        let found = refresh_tokens::Entity::find_by_id(token.0.clone())
            .find_also_related(sessions::Entity)
            .one(&self.db)
            .await
            .context("could not look up a refresh token")?;
        Ok(found.and_then(|(_, session)| session).map(rows::session))
    }

    async fn get(&self, id: SessionId) -> anyhow::Result<Option<Session>> {
        Ok(sessions::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .with_context(|| format!("could not read session {id}"))?
            .map(rows::session))
    }

    #[tracing::instrument(skip_all, fields(session = %id))]
    async fn end(&self, id: SessionId, at: DateTime<Utc>) -> anyhow::Result<()> {
        let at = whole_seconds(at);
        self.with_retries("end a session", || {
            self.try_end(
                "could not end a session",
                sessions::Entity::update_many()
                    .col_expr(sessions::Column::EndedAt, Expr::value(Some(at)))
                    .filter(sessions::Column::Id.eq(id.as_uuid()))
                    .filter(sessions::Column::EndedAt.is_null()),
            )
        })
        .await
        .map(|_| ())
    }

    /// Families that have expired are left as they are (they are over
    /// anyway) and not counted.
    #[tracing::instrument(skip_all, fields(user = %user))]
    async fn end_all(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let at = whole_seconds(at);
        self.with_retries("end the sessions of a user", || {
            let mut statement = sessions::Entity::update_many()
                .col_expr(sessions::Column::EndedAt, Expr::value(Some(at)))
                .filter(sessions::Column::UserId.eq(user.as_uuid()))
                .filter(sessions::Column::EndedAt.is_null())
                .filter(sessions::Column::ExpiresAt.gt(at));
            if let Some(keep) = keep {
                statement = statement.filter(sessions::Column::Id.ne(keep.as_uuid()));
            }
            self.try_end("could not end the sessions of a user", statement)
        })
        .await
    }
}
