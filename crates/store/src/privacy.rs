//! [`PrivacyRepository`]: a caller's erasure and an account's deletion, each
//! one write transaction (`BEGIN IMMEDIATE` on SQLite), retried as a whole
//! when the database asks to.
//!
//! The account deletion is the one path besides retention that changes the
//! audit log: it anonymises entries (actor id, `user:<id>` resources, the
//! user's addresses), it never deletes one. On PostgreSQL it holds the
//! users' advisory lock exclusively, so two administrators deleting
//! themselves at once cannot both pass the "last administrator" check.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Value,
};
use voice_scheduler_domain::privacy::{
    DeletedUser, ERASED_ACTOR, ERASED_MARK, ERASED_NAME, ErasedCaller, PrivacyRepository,
    StoreDeleteUserError,
};
use voice_scheduler_domain::{PhoneNumber, Role, UserId};

use crate::entities::{
    appointments, audit_log, calendars, calls, login_failures, sessions, tool_replies, users,
};
use crate::rows::whole_seconds;
use crate::{Decision, PgLock, Step, Store, fail, finish, pg_lock};

async fn erase_in(
    txn: &DatabaseTransaction,
    phone: &str,
    placeholder: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<Decision<ErasedCaller, anyhow::Error>> {
    let replies = erase_replies_in(txn, phone).await?;
    // Their events in Google Calendar are rewritten too (name, number and
    // email gone), by the sync workers, when the calendar is connected.
    let theirs: Vec<(uuid::Uuid, uuid::Uuid)> = appointments::Entity::find()
        .select_only()
        .column(appointments::Column::CalendarId)
        .column(appointments::Column::Id)
        .filter(appointments::Column::CustomerPhone.eq(phone))
        .into_tuple()
        .all(txn)
        .await
        .context("could not list the caller's appointments")?;
    for (calendar, id) in theirs {
        crate::sync::enqueue(
            txn,
            voice_scheduler_domain::CalendarId::from_uuid(calendar),
            voice_scheduler_domain::AppointmentId::from_uuid(id),
            at,
        )
        .await?;
    }
    let appointments = appointments::Entity::update_many()
        .col_expr(appointments::Column::CustomerName, Expr::value(ERASED_NAME))
        .col_expr(
            appointments::Column::CustomerPhone,
            Expr::value(placeholder),
        )
        .col_expr(
            appointments::Column::CustomerEmail,
            Expr::value(Value::String(None)),
        )
        .col_expr(
            appointments::Column::Purpose,
            Expr::value(Value::String(None)),
        )
        .col_expr(
            appointments::Column::CancelReason,
            Expr::value(Value::String(None)),
        )
        .col_expr(appointments::Column::UpdatedAt, Expr::value(at))
        .filter(appointments::Column::CustomerPhone.eq(phone))
        .exec(txn)
        .await
        .context("could not erase the caller's appointments")?
        .rows_affected;
    let calls = calls::Entity::update_many()
        .col_expr(
            calls::Column::CustomerPhone,
            Expr::value(Value::String(None)),
        )
        .col_expr(calls::Column::Summary, Expr::value(Value::String(None)))
        .col_expr(calls::Column::Transcript, Expr::value(Value::String(None)))
        .col_expr(
            calls::Column::RecordingUrl,
            Expr::value(Value::String(None)),
        )
        .col_expr(
            calls::Column::TranscriptPurgedAt,
            Expr::col(calls::Column::TranscriptPurgedAt).if_null(at),
        )
        // A later message of the call must not bring the data back.
        .col_expr(
            calls::Column::ErasedAt,
            Expr::col(calls::Column::ErasedAt).if_null(at),
        )
        .col_expr(calls::Column::UpdatedAt, Expr::value(at))
        .filter(calls::Column::CustomerPhone.eq(phone))
        .exec(txn)
        .await
        .context("could not erase the caller's calls")?
        .rows_affected;
    Ok(Decision::Commit(ErasedCaller {
        appointments,
        calls,
        replies,
    }))
}

/// The kept replies that may repeat the caller's details: the replay copies
/// of the tool calls that booked their appointments, and every kept reply
/// (voice tool calls, API `Idempotency-Key` answers) whose text holds their
/// number or one of the names their appointments were booked under. Deleted:
/// a retry after this gets a fresh answer instead of a replay.
async fn erase_replies_in(txn: &DatabaseTransaction, phone: &str) -> anyhow::Result<u64> {
    let theirs = appointments::Entity::find()
        .filter(appointments::Column::CustomerPhone.eq(phone))
        .all(txn)
        .await
        .context("could not read the caller's appointments")?;
    let tool_calls: Vec<String> = theirs
        .iter()
        .filter_map(|a| a.tool_call_id.clone())
        .collect();
    let mut mentions = Condition::any().add(tool_replies::Column::Body.contains(phone));
    let mut names: Vec<&str> = theirs.iter().map(|a| a.customer_name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names
        .into_iter()
        .filter(|n| *n != ERASED_NAME && n.len() >= 3)
    {
        mentions = mentions.add(tool_replies::Column::Body.contains(name));
    }
    if !tool_calls.is_empty() {
        mentions = mentions.add(
            Condition::all()
                .add(tool_replies::Column::Scope.eq(TOOL_CALL_SCOPE))
                .add(tool_replies::Column::Key.is_in(tool_calls)),
        );
    }
    let deleted = tool_replies::Entity::delete_many()
        .filter(tool_replies::Column::Scope.is_in(REPLY_SCOPES_WITH_PERSONAL_DATA))
        .filter(mentions)
        .exec(txn)
        .await
        .context("could not erase the caller's kept replies")?
        .rows_affected;
    Ok(deleted)
}

/// The reply-store scopes that can hold a caller's details (not the
/// generated secrets, not signature digests).
const REPLY_SCOPES_WITH_PERSONAL_DATA: [&str; 2] = [TOOL_CALL_SCOPE, "api-idempotency"];
const TOOL_CALL_SCOPE: &str = "vapi-tool-call";

async fn delete_in(
    txn: &DatabaseTransaction,
    user: UserId,
    at: DateTime<Utc>,
) -> anyhow::Result<Decision<DeletedUser, StoreDeleteUserError>> {
    pg_lock(txn, PgLock::Users, false).await?;
    let id = user.as_uuid();
    let Some(row) = users::Entity::find_by_id(id)
        .one(txn)
        .await
        .with_context(|| format!("could not read user {user}"))?
    else {
        return Ok(Decision::Refuse(StoreDeleteUserError::NotFound));
    };
    if row.role == Role::Admin.as_str() {
        let others = users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .filter(users::Column::Id.ne(id))
            .count(txn)
            .await
            .context("could not count the administrators")?;
        if others == 0 {
            return Ok(Decision::Refuse(StoreDeleteUserError::LastAdministrator));
        }
    }
    let sessions_ended = sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(id))
        .filter(sessions::Column::EndedAt.is_null())
        .filter(sessions::Column::ExpiresAt.gt(at))
        .count(txn)
        .await
        .context("could not count the user's sign-ins")?;
    // The foreign key (PostgreSQL) or trigger (SQLite) would do this on
    // delete too; done here so it is counted and does not depend on either.
    let calendars_unowned = calendars::Entity::update_many()
        .col_expr(calendars::Column::OwnerId, Expr::value(Value::Uuid(None)))
        .filter(calendars::Column::OwnerId.eq(id))
        .exec(txn)
        .await
        .context("could not leave the user's calendars without an owner")?
        .rows_affected;
    // The user's id, wherever it appears (`user:<id>` resources, `owner
    // user:<id>` details, the actor), becomes a fixed marker. Entries are
    // changed, never deleted.
    let id_text = user.to_string();
    let mentions = format!("%{id_text}%");
    let replace = |column: audit_log::Column| {
        Func::cust("REPLACE")
            .arg(Expr::col(column))
            .arg(id_text.as_str())
            .arg(ERASED_MARK)
    };
    let audit_entries_anonymised = audit_log::Entity::update_many()
        .col_expr(
            audit_log::Column::Resource,
            replace(audit_log::Column::Resource).into(),
        )
        .col_expr(
            audit_log::Column::Detail,
            replace(audit_log::Column::Detail).into(),
        )
        .filter(
            Condition::any()
                .add(audit_log::Column::ActorId.eq(id_text.as_str()))
                .add(audit_log::Column::Resource.like(mentions.as_str()))
                .add(audit_log::Column::Detail.like(mentions.as_str())),
        )
        .exec(txn)
        .await
        .context("could not anonymise the audit entries about the user")?
        .rows_affected;
    audit_log::Entity::update_many()
        .col_expr(audit_log::Column::ActorId, Expr::value(ERASED_ACTOR))
        .col_expr(audit_log::Column::Address, Expr::value(Value::String(None)))
        .filter(audit_log::Column::ActorKind.eq("user"))
        .filter(audit_log::Column::ActorId.eq(id_text.as_str()))
        .exec(txn)
        .await
        .context("could not anonymise the user's audit entries")?;
    // The account's own key and its per-address keys (`account:<key>|address:<a>`).
    let account_key = format!("account:{}", row.email_key);
    let per_address = format!("{}|%", like_escape(&account_key));
    login_failures::Entity::delete_many()
        .filter(
            Condition::any()
                .add(login_failures::Column::Key.eq(account_key.as_str()))
                .add(
                    Expr::col(login_failures::Column::Key)
                        .like(LikeExpr::new(per_address).escape('\\')),
                ),
        )
        .exec(txn)
        .await
        .context("could not forget the account's failed sign-ins")?;
    // Sessions and refresh tokens go with the user (ON DELETE CASCADE).
    users::Entity::delete_by_id(id)
        .exec(txn)
        .await
        .with_context(|| format!("could not delete user {user}"))?;
    Ok(Decision::Commit(DeletedUser {
        sessions_ended,
        calendars_unowned,
        audit_entries_anonymised,
    }))
}

impl Store {
    async fn try_erase_caller(
        &self,
        phone: &str,
        placeholder: &str,
        at: DateTime<Utc>,
    ) -> Step<anyhow::Result<ErasedCaller>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = erase_in(&txn, phone, placeholder, at).await;
        finish(txn, decided, "could not commit the caller's erasure").await
    }

    async fn try_delete_user(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Step<Result<DeletedUser, StoreDeleteUserError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = delete_in(&txn, user, at).await;
        finish(txn, decided, "could not commit the account's deletion").await
    }
}

#[async_trait]
impl PrivacyRepository for Store {
    #[tracing::instrument(skip_all, fields(phone = %phone.masked()))]
    async fn erase_caller(
        &self,
        phone: &PhoneNumber,
        placeholder: &PhoneNumber,
        at: DateTime<Utc>,
    ) -> anyhow::Result<ErasedCaller> {
        let at = whole_seconds(at);
        self.with_retries("erase a caller", || {
            self.try_erase_caller(phone.as_str(), placeholder.as_str(), at)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(%user))]
    async fn delete_user(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<DeletedUser, StoreDeleteUserError> {
        let at = whole_seconds(at);
        self.with_retries("delete a user", || self.try_delete_user(user, at))
            .await
    }
}

/// `text` as a LIKE pattern that matches only itself (`\` escapes).
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
