//! [`CallRepository`] on PostgreSQL and SQLite: one record per VAPI call.
//!
//! [`record`](CallRepository::record) is one write transaction:
//!
//! 1. `INSERT … ON CONFLICT (vapi_call_id) DO NOTHING` of the record the
//!    message alone makes. When it inserts, that is the record: done.
//! 2. Otherwise the row is read and locked (`SELECT … FOR UPDATE` on
//!    PostgreSQL; on SQLite the transaction holds the write lock from its
//!    `BEGIN IMMEDIATE`), the message is folded in with the domain's merge
//!    ([`Call::apply`]) and the row is written back — unless nothing
//!    changed (a duplicate delivery writes nothing).
//!
//! Concurrent first messages of one call meet on the unique
//! `vapi_call_id`: on PostgreSQL the second `INSERT` waits for the first
//! transaction and then does nothing, and its `SELECT … FOR UPDATE` (a new
//! statement, so a new snapshot under READ COMMITTED) sees the committed
//! row; on SQLite writers are serialized. So there is one row per call and
//! no message's facts are lost, whatever the interleaving.
//!
//! Times are stored in whole seconds and free text NUL-safe (see `rows`);
//! the message is normalised the same way *before* it is merged, so the
//! record returned is the record stored.

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::NotSet;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, Order, QueryFilter,
    QuerySelect, TryInsertResult,
};
use voice_scheduler_domain::calls::{CallFact, CallQuery, CallRepository, ReportedFacts};
use voice_scheduler_domain::{
    CalendarId, Call, CallDirection, CallId, CallStatus, CallUpdate, PhoneNumber,
};

use crate::entities::calls::{self, Column};
use crate::rows::{ceil_seconds, storable, storable_owned, whole_seconds};
use crate::{Decision, Step, Store, fail, finish, listing, webhooks};
use voice_scheduler_domain::calls::CallSource;
use voice_scheduler_domain::webhooks::WebhookEvent;

/// `update` as the store keeps values: times in whole seconds, text NUL-safe.
fn normalised(update: &CallUpdate) -> CallUpdate {
    let mut u = update.clone();
    u.vapi_call_id = storable(&u.vapi_call_id).into_owned();
    u.timestamp = u.timestamp.map(whole_seconds);
    u.started_at = u.started_at.map(whole_seconds);
    u.ended_at = u.ended_at.map(whole_seconds);
    u.ended_reason = storable_owned(u.ended_reason);
    u.summary = storable_owned(u.summary);
    u.success_evaluation = storable_owned(u.success_evaluation);
    u.transcript = storable_owned(u.transcript);
    u.recording_url = storable_owned(u.recording_url);
    u
}

/// The row of `call`.
fn row(call: &Call) -> calls::Model {
    calls::Model {
        id: call.id.as_uuid(),
        vapi_call_id: call.vapi_call_id.clone(),
        calendar_id: call.calendar_id.map(|c| c.as_uuid()),
        direction: call.direction.map(|d| d.as_str().to_owned()),
        customer_phone: call.customer_phone.as_ref().map(|p| p.as_str().to_owned()),
        status: call.status.map(|s| s.as_str().to_owned()),
        status_rank: call.status.map(|s| i32::from(s.rank())),
        ended_reason: call.ended_reason.clone(),
        started_at: call.started_at,
        ended_at: call.ended_at,
        duration_seconds: call.duration().map(|d| d.num_seconds()),
        cost: call.cost,
        summary: call.summary.clone(),
        success_evaluation: call.success_evaluation.clone(),
        transcript: call.transcript.clone(),
        recording_url: call.recording_url.clone(),
        reported_facts: i32::from(call.reported.bits()),
        transcript_purged_at: call.transcript_purged_at,
        erased_at: call.erased_at,
        listed_at: call.listed_at(),
        created_at: call.created_at,
        updated_at: call.updated_at,
    }
}

/// Rebuilds a call from its row. A row that does not parse is an error
/// naming the call and the column (never the personal value).
fn call(row: calls::Model) -> anyhow::Result<Call> {
    let id = row.id;
    let bad = |column: &str| anyhow!("call {id}: the stored {column} is not valid");
    Ok(Call {
        id: CallId::from_uuid(row.id),
        vapi_call_id: row.vapi_call_id,
        calendar_id: row.calendar_id.map(CalendarId::from_uuid),
        direction: row
            .direction
            .map(|d| CallDirection::parse(&d).ok_or_else(|| bad("direction")))
            .transpose()?,
        customer_phone: row
            .customer_phone
            .map(|p| PhoneNumber::from_e164(&p).map_err(|_| bad("customer_phone")))
            .transpose()?,
        status: row
            .status
            .map(|s| CallStatus::parse(&s).ok_or_else(|| bad("status")))
            .transpose()?,
        ended_reason: row.ended_reason,
        started_at: row.started_at,
        ended_at: row.ended_at,
        cost: row.cost,
        summary: row.summary,
        success_evaluation: row.success_evaluation,
        transcript: row.transcript,
        recording_url: row.recording_url,
        reported: ReportedFacts::from_bits(
            u16::try_from(row.reported_facts).map_err(|_| bad("reported_facts"))?,
        ),
        transcript_purged_at: row.transcript_purged_at,
        erased_at: row.erased_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Inserts or merges `update` inside `txn` (see the module documentation).
async fn record_in(
    txn: &DatabaseTransaction,
    update: &CallUpdate,
    now: DateTime<Utc>,
) -> anyhow::Result<Decision<Call, anyhow::Error>> {
    let vapi_call_id = update.vapi_call_id.as_str();
    let mut fresh = Call::new(CallId::new(), vapi_call_id, now);
    fresh.apply(update, now);
    let inserted = calls::Entity::insert(calls::ActiveModel::from(row(&fresh)))
        .on_conflict_do_nothing_on([Column::VapiCallId])
        .exec_without_returning(txn)
        .await
        .context("could not store a new call")?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        if ends(update, ReportedFacts::default(), &fresh) {
            call_ended(txn, &fresh, now).await?;
        }
        return Ok(Decision::Commit(fresh));
    }
    let stored = calls::Entity::find()
        .filter(Column::VapiCallId.eq(vapi_call_id))
        .lock(LockType::Update)
        .one(txn)
        .await
        .context("could not read a call")?;
    let Some(stored) = stored else {
        // Only a deletion between the two statements could do this.
        return Ok(Decision::Retry("the call vanished during the merge"));
    };
    let mut merged = call(stored)?;
    let reported_before = merged.reported;
    if !merged.apply(update, now) {
        return Ok(Decision::Commit(merged));
    }
    if ends(update, reported_before, &merged) {
        call_ended(txn, &merged, now).await?;
    }
    // Every column is written (`reset_all`), but the key and the birth.
    let mut changes = calls::ActiveModel::from(row(&merged)).reset_all();
    changes.id = NotSet;
    changes.vapi_call_id = NotSet;
    changes.created_at = NotSet;
    calls::Entity::update_many()
        .set(changes)
        .filter(Column::Id.eq(merged.id.as_uuid()))
        .exec(txn)
        .await
        .with_context(|| format!("could not update call {}", merged.id))?;
    Ok(Decision::Commit(merged))
}

/// Whether `update` is the call's first end-of-call report: the moment a
/// `call.ended` webhook event is written (once per call: a repeated report
/// finds facts already reported).
fn ends(update: &CallUpdate, reported_before: ReportedFacts, after: &Call) -> bool {
    update.source == CallSource::EndOfCallReport
        && reported_before.bits() == 0
        && after.reported.bits() != 0
}

/// Writes the `call.ended` event for every matching endpoint, in `txn`.
async fn call_ended(
    txn: &DatabaseTransaction,
    call: &Call,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    webhooks::enqueue(
        txn,
        WebhookEvent::CallEnded,
        call.calendar_id,
        webhooks::call_data(call),
        now,
    )
    .await
}

impl Store {
    async fn try_record(
        &self,
        update: &CallUpdate,
        now: DateTime<Utc>,
    ) -> Step<anyhow::Result<Call>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = record_in(&txn, update, now).await;
        finish(txn, decided, "could not commit a call").await
    }
}

#[async_trait]
impl CallRepository for Store {
    #[tracing::instrument(skip_all, fields(vapi_call_id = %update.vapi_call_id, source = ?update.source))]
    async fn record(&self, update: &CallUpdate, now: DateTime<Utc>) -> anyhow::Result<Call> {
        let update = normalised(update);
        let now = whole_seconds(now);
        self.with_retries("record a call", || self.try_record(&update, now))
            .await
    }

    async fn get(&self, id: CallId) -> anyhow::Result<Option<Call>> {
        calls::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .with_context(|| format!("could not read call {id}"))?
            .map(call)
            .transpose()
    }

    async fn find_by_vapi_id(&self, vapi_call_id: &str) -> anyhow::Result<Option<Call>> {
        calls::Entity::find()
            .filter(Column::VapiCallId.eq(storable(vapi_call_id).as_ref()))
            .one(&self.db)
            .await
            .context("could not look up a call by its VAPI id")?
            .map(call)
            .transpose()
    }

    /// Stored times are whole seconds, so the bounds are rounded up to whole
    /// seconds (as in the appointment listing). A page is a backward range
    /// scan of `(calendar_id, listed_at, id)` for one calendar, of
    /// `(listed_at, id)` across calendars.
    async fn list(&self, query: &CallQuery) -> anyhow::Result<Vec<Call>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = listing::in_scope(calls::Entity::find(), Column::CalendarId, query.scope);
        select = listing::within(select, Column::ListedAt, query.from, query.to);
        if let Some(phone) = &query.phone {
            select = select.filter(Column::CustomerPhone.eq(phone.as_str()));
        }
        listing::page(
            select,
            Column::ListedAt,
            Column::Id,
            Order::Desc,
            query.before.map(|(at, id)| (at, id.as_uuid())),
        )
        .limit(query.limit)
        .all(&self.db)
        .await
        .context("could not list calls")?
        .into_iter()
        .map(call)
        .collect()
    }

    /// One `UPDATE` over the partial index `calls_retained_idx` (the calls
    /// that still have a transcript or a recording URL, by
    /// `COALESCE(ended_at, updated_at)`).
    #[tracing::instrument(skip_all, fields(before = %before))]
    async fn purge_transcripts(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let before = ceil_seconds(before);
        let now = whole_seconds(now);
        let purged = ReportedFacts::of(&[CallFact::Transcript, CallFact::RecordingUrl]);
        let keep = !i32::from(purged.bits());
        self.with_retries("clear expired call transcripts", || async move {
            let _gate = self.lock_writes().await;
            let cleared = calls::Entity::update_many()
                .col_expr(Column::Transcript, Expr::value(Option::<String>::None))
                .col_expr(Column::RecordingUrl, Expr::value(Option::<String>::None))
                .col_expr(
                    Column::ReportedFacts,
                    Expr::col(Column::ReportedFacts).bit_and(keep),
                )
                .col_expr(Column::TranscriptPurgedAt, Expr::value(Some(now)))
                .col_expr(Column::UpdatedAt, Expr::value(now))
                .filter(
                    Condition::any()
                        .add(Column::Transcript.is_not_null())
                        .add(Column::RecordingUrl.is_not_null()),
                )
                .filter(
                    Func::coalesce([Expr::col(Column::EndedAt), Expr::col(Column::UpdatedAt)])
                        .lt(before),
                )
                .exec(&self.db)
                .await;
            match cleared {
                Ok(done) => Step::Done(Ok::<u64, anyhow::Error>(done.rows_affected)),
                Err(e) => fail(
                    anyhow::Error::new(e).context("could not clear the expired call transcripts"),
                ),
            }
        })
        .await
    }
}
