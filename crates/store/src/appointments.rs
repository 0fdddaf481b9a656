//! [`AppointmentRepository`] on PostgreSQL and SQLite.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use uuid::Uuid;
use voice_scheduler_domain::ports::{
    AppointmentQuery, AppointmentRepository, AuditEntry, BookOutcome, StoreBookError,
    StoreCancelError, StoreRescheduleError,
};
use voice_scheduler_domain::{
    Appointment, AppointmentId, AppointmentStatus, CalendarId, ConfirmationCode, NewAppointment,
    PhoneNumber, Schedule, TimeRange,
};
use voice_scheduler_domain::{DailyLimit, ServiceId};

use crate::entities::appointments::{self, Column};
use crate::errors::{Failure, UniqueRule, classify};
use crate::group_commit::{self, BatchError};
use crate::listing;
use crate::rows::{self, ceil_seconds, storable, storable_owned, whole_range, whole_seconds};
use crate::{Backend, Step, Store, audit, fail, in_transaction, rollback, sync, webhooks};
use voice_scheduler_domain::webhooks::WebhookEvent;

/// At most this many appointments from [`AppointmentRepository::find_by_phone`].
const FIND_BY_PHONE_LIMIT: u64 = 50;
/// At most this many appointments from
/// [`AppointmentRepository::find_by_vapi_call`] (one call books a few).
const FIND_BY_VAPI_CALL_LIMIT: u64 = 100;

const CONFIRMED: &str = "confirmed";
const CANCELLED: &str = "cancelled";

/// The longest time one stored appointment holds (`[starts_at,
/// blocked_until)`): [`Schedule::MAX_HOLD_MINUTES`]. [`Plan::new`] and
/// `reschedule` refuse longer ones, so an appointment that holds any time
/// after `t` starts after `t - max_hold()`. Every search for appointments
/// overlapping a time therefore has a lower bound on `starts_at` as well as
/// an upper one, and stays a short range scan of the
/// `(calendar_id, starts_at)` index however long the calendar's history is
/// (with only `starts_at < until`, it read every past appointment).
fn max_hold() -> Duration {
    Duration::minutes(Schedule::MAX_HOLD_MINUTES)
}

/// The longest buffer before an appointment: `starts_at - blocked_from`
/// is at most this, so an appointment that holds time before `t` starts
/// before `t + max_before()`.
fn max_before() -> Duration {
    Duration::minutes(Schedule::MAX_BUFFER_MINUTES)
}

/// Refuses a time that holds longer than [`max_hold`] after its start or
/// longer than [`max_before`] before it.
fn check_hold(
    blocked_from: DateTime<Utc>,
    start: DateTime<Utc>,
    blocked_until: DateTime<Utc>,
) -> anyhow::Result<()> {
    if blocked_until - start > max_hold() || start - blocked_from > max_before() {
        anyhow::bail!(
            "an appointment may hold at most {} minutes from its start (with its buffer) and {} before",
            Schedule::MAX_HOLD_MINUTES,
            Schedule::MAX_BUFFER_MINUTES
        );
    }
    Ok(())
}

/// A booking request with its times in whole seconds and the end of the time
/// it holds (`end + buffer`).
struct Plan {
    new: NewAppointment,
    /// `start - buffer_before` (the service's; `start` without one).
    blocked_from: DateTime<Utc>,
    blocked_until: DateTime<Utc>,
}

impl Plan {
    fn new(mut new: NewAppointment, buffer: Duration) -> anyhow::Result<Plan> {
        if let Some(service) = &mut new.service {
            service.service.name = storable(&service.service.name).into_owned();
            if let Some(limit) = &mut service.daily_limit {
                limit.day = whole_range(limit.day)?;
            }
        }
        new.purpose = storable_owned(new.purpose);
        new.booked_by.vapi_call_id = storable_owned(new.booked_by.vapi_call_id);
        new.booked_by.tool_call_id = storable_owned(new.booked_by.tool_call_id);
        new.idempotency_key = storable_owned(new.idempotency_key);
        new.range = whole_range(new.range)?;
        new.created_at = whole_seconds(new.created_at);
        let blocked_until = whole_seconds(new.range.with_trailing(buffer).end());
        let before = new
            .service
            .as_ref()
            .map_or(Duration::zero(), |s| s.buffer_before.max(Duration::zero()));
        let blocked_from = whole_seconds(new.range.start() - before);
        check_hold(blocked_from, new.range.start(), blocked_until)?;
        Ok(Plan {
            new,
            blocked_from,
            blocked_until,
        })
    }

    /// The service's daily limit, if any.
    fn limit(&self) -> Option<(uuid::Uuid, DailyLimit)> {
        let service = self.new.service.as_ref()?;
        Some((service.service.id.as_uuid(), service.daily_limit?))
    }
}

/// The answer to `plan` given what is stored, or `None` when the time is free:
///
/// 1. the idempotency key, when given and already used: `Replayed` or
///    `IdempotencyConflict`;
/// 2. an active appointment of the same phone with exactly the same range:
///    `AlreadyBooked`;
/// 3. any other active appointment holding an overlapping time: `SlotTaken`.
///
/// One query reads both the holders and the row with the key: one snapshot,
/// so a concurrent booking with the same key that holds the time is seen by
/// its key too, and a retry is answered `Replayed`, never `AlreadyBooked`.
async fn decide<C: ConnectionTrait>(
    db: &C,
    plan: &Plan,
) -> anyhow::Result<Option<Result<BookOutcome, StoreBookError>>> {
    let new = &plan.new;
    let from = plan.blocked_from;
    let key = new.idempotency_key.as_deref();
    // Each branch carries the calendar, so each is a range scan of its own
    // index (an `OR` inside one `WHERE` would scan the calendar's history).
    let mut sql = String::from(
        r#"SELECT * FROM "appointments"
WHERE "calendar_id" = $1 AND "status" <> $2
  AND "starts_at" < $3 AND "starts_at" > $4 AND "blocked_until" > $5 AND "blocked_from" < $6"#,
    );
    let mut values: Vec<sea_orm::Value> = vec![
        new.calendar_id.as_uuid().into(),
        CANCELLED.to_owned().into(),
        (plan.blocked_until + max_before()).into(),
        (from - max_hold()).into(),
        from.into(),
        plan.blocked_until.into(),
    ];
    if let Some(key) = key {
        sql.push_str(
            r#"
UNION ALL
SELECT * FROM "appointments" WHERE "calendar_id" = $1 AND "idempotency_key" = $7"#,
        );
        values.push(key.to_owned().into());
    }
    let statement = Backend::of(db).statement(&sql, values);
    let rows = appointments::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await
        .context("could not read the appointments holding the time")?;
    let (keyed, holders): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|row| key.is_some() && row.idempotency_key.as_deref() == key);
    if let Some(row) = keyed.into_iter().next() {
        let existing = rows::appointment(row)?;
        return Ok(Some(if existing.is_same_request(new) {
            Ok(BookOutcome::Replayed(existing))
        } else {
            Err(StoreBookError::IdempotencyConflict(Box::new(existing)))
        }));
    }
    if holders.is_empty() {
        if let Some((service, limit)) = plan.limit()
            && count_service(db, new.calendar_id, service, limit.day).await? >= u64::from(limit.max)
        {
            return Ok(Some(Err(StoreBookError::DailyLimit)));
        }
        return Ok(None);
    }
    let same_caller = holders.into_iter().find(|row| {
        row.customer_phone == new.customer_phone.as_str()
            && row.starts_at == new.range.start()
            && row.ends_at == new.range.end()
    });
    Ok(Some(match same_caller {
        Some(row) => Ok(BookOutcome::AlreadyBooked(rows::appointment(row)?)),
        None => Err(StoreBookError::SlotTaken),
    }))
}

/// How many active appointments of `service` in `calendar` start within `day`.
async fn count_service<C: ConnectionTrait>(
    db: &C,
    calendar: CalendarId,
    service: Uuid,
    day: TimeRange,
) -> anyhow::Result<u64> {
    appointments::Entity::find()
        .filter(Column::CalendarId.eq(calendar.as_uuid()))
        .filter(Column::Status.ne(CANCELLED))
        .filter(Column::ServiceId.eq(service))
        .filter(Column::StartsAt.gte(whole_seconds(day.start())))
        .filter(Column::StartsAt.lt(ceil_seconds(day.end())))
        .count(db)
        .await
        .context("could not count the appointments of a service")
}

/// Active appointments of `calendar` whose held time `[blocked_from,
/// blocked_until)` overlaps `[start, until)`, except `except`, earliest
/// first. `starts_at > start - max_hold()` follows from `blocked_until >
/// start`, and `starts_at < until + max_before()` from `blocked_from <
/// until` (see [`max_hold`], [`max_before`]); they bound the index scan.
async fn active_holding<C: ConnectionTrait>(
    db: &C,
    calendar: CalendarId,
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    except: Option<Uuid>,
) -> anyhow::Result<Vec<appointments::Model>> {
    let mut query = appointments::Entity::find()
        .filter(Column::CalendarId.eq(calendar.as_uuid()))
        .filter(Column::Status.ne(CANCELLED))
        .filter(Column::StartsAt.lt(until + max_before()))
        .filter(Column::StartsAt.gt(start - max_hold()))
        .filter(Column::BlockedUntil.gt(start))
        .filter(Column::BlockedFrom.lt(until));
    if let Some(id) = except {
        query = query.filter(Column::Id.ne(id));
    }
    query
        .order_by_asc(Column::StartsAt)
        .all(db)
        .await
        .context("could not read the appointments holding the time")
}

/// The first key of the advisory locks this store takes (`pg_advisory_xact_lock(int4, int4)`):
/// "appointments of a calendar". The second key is a hash of the calendar id.
const PG_LOCK_CALENDAR_APPOINTMENTS: i32 = 0x5643_0001;

/// PostgreSQL: queues this transaction behind any other booking or move in
/// the same calendar (a transaction-scoped advisory lock, exclusive; a
/// booking takes it shared, see [`insert_if_free`]), so the check that
/// follows sees every earlier booking and move committed. Without it a move
/// and a concurrent insert of overlapping times can each wait on the other's
/// exclusion check until PostgreSQL's deadlock detector (1 s) aborts one.
/// The exclusion constraint stays the guard for writers that do not take
/// the lock.
/// SQLite: nothing to do, `BEGIN IMMEDIATE` already serializes writers.
pub(crate) async fn hold_calendar(
    txn: &DatabaseTransaction,
    calendar: CalendarId,
) -> anyhow::Result<()> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        [
            PG_LOCK_CALENDAR_APPOINTMENTS.into(),
            calendar.to_string().into(),
        ],
    ))
    .await
    .with_context(|| format!("could not lock the appointments of calendar {calendar}"))?;
    Ok(())
}

/// The appointment `id` of `calendar`, locked for update on PostgreSQL
/// (SQLite's `BEGIN IMMEDIATE` already excludes other writers).
async fn find_for_update(
    txn: &DatabaseTransaction,
    calendar: CalendarId,
    id: AppointmentId,
) -> anyhow::Result<Option<appointments::Model>> {
    appointments::Entity::find()
        .filter(Column::CalendarId.eq(calendar.as_uuid()))
        .filter(Column::Id.eq(id.as_uuid()))
        .lock_exclusive()
        .one(txn)
        .await
        .with_context(|| format!("could not read appointment {id}"))
}

/// Reads back a row this transaction just changed.
async fn reread(
    txn: &DatabaseTransaction,
    calendar: CalendarId,
    id: AppointmentId,
) -> anyhow::Result<Appointment> {
    let row = appointments::Entity::find()
        .filter(Column::CalendarId.eq(calendar.as_uuid()))
        .filter(Column::Id.eq(id.as_uuid()))
        .one(txn)
        .await
        .with_context(|| format!("could not read back appointment {id}"))?
        .with_context(|| format!("appointment {id} vanished while it was being changed"))?;
    rows::appointment(row)
}

impl Store {
    /// One booking try: one statement (see [`insert_if_free`]), which
    /// checks that no active appointment holds the time and that the
    /// idempotency key is unused, and inserts. On PostgreSQL it is a
    /// transaction of its own, committed in the same round trip, and takes
    /// the calendar's advisory lock first, inside the statement. On SQLite
    /// it runs inside the `BEGIN IMMEDIATE` transaction of a batch of
    /// bookings that queued for the one writer together, in a savepoint of
    /// its own, and the batch commits once ([`group_commit`]). Either way no
    /// one else writes between the check and the insert, and the lock is
    /// held only while the database works — never while a reply travels to
    /// this process and the next statement travels back, which is what
    /// bounded the rate of bookings of one calendar when a booking took six
    /// round trips (docs/performance.md).
    ///
    /// Nothing inserted means the check found a holder or the key: read who
    /// it is ([`decide`]) to answer precisely. On PostgreSQL the check reads
    /// the statement's snapshot, which a booking that waited for the lock may
    /// have taken before the previous holder committed; the exclusion
    /// constraint (`23P01`) and the idempotency index (`23505`) catch that
    /// case, and [`Store::after_refusal`] answers it the same way.
    ///
    /// The booking's audit entry (`record`) and its calendar-sync job (when
    /// the calendar is connected to Google) are written by the same
    /// statement on PostgreSQL ([`book_statement_postgres`]), in the same
    /// savepoint on SQLite: they exist exactly when the appointment does,
    /// at no extra commit.
    async fn try_book(
        &self,
        plan: &Plan,
        record: Option<&AuditEntry>,
    ) -> Step<Result<BookOutcome, StoreBookError>> {
        // SQLite has one writer at a time: a booking that can only be
        // refused (the time is held, the key was used) is answered from a
        // read, without queueing for the write lock. The write below checks
        // again under the lock, so this read only saves work.
        if self.backend == Backend::Sqlite {
            match decide(&self.db, plan).await {
                Ok(Some(answer)) => return Step::Done(answer),
                Ok(None) => {}
                Err(e) => return fail(e),
            }
        }
        let code = ConfirmationCode::generate();
        let inserted = match &self.bookings {
            Some(queue) => {
                self.book_in_batch(queue, book_statement_sqlite(plan, &code, record))
                    .await
            }
            None => self
                .book_postgres(plan, &code, record)
                .await
                .map_err(BatchError::Own),
        };
        match inserted {
            Ok(true) => Step::Done(Ok(BookOutcome::Created(Appointment::from_new(
                plan.new.clone(),
                code,
            )))),
            Ok(_) => match decide(&self.db, plan).await {
                Ok(Some(answer)) => Step::Done(answer),
                Ok(None) => Step::Retry("the booking that held the time is gone"),
                Err(e) => fail(e),
            },
            Err(BatchError::Own(err)) => self.after_refusal(plan, err).await,
            Err(BatchError::Batch {
                transient: true, ..
            }) => Step::Retry("the batch of bookings asked to retry"),
            Err(BatchError::Batch {
                message,
                unavailable,
                ..
            }) => {
                let error = if unavailable {
                    anyhow::Error::new(crate::errors::Unavailable).context(message)
                } else {
                    anyhow::anyhow!(message)
                };
                Step::Done(Err(error.context("could not write the appointment").into()))
            }
        }
    }

    /// PostgreSQL: the one booking statement; `true` when it inserted.
    async fn book_postgres(
        &self,
        plan: &Plan,
        code: &ConfirmationCode,
        record: Option<&AuditEntry>,
    ) -> Result<bool, DbErr> {
        let statement = book_statement_postgres(plan, code, record);
        // The bookings' own pool when there is one: a booking holds its
        // connection while its commit is flushed (Backend::default_booking_pool_size).
        let db = self.booking_db.as_ref().unwrap_or(&self.db);
        let row = if plan.limit().is_some() {
            // The statement's snapshot must see every booking committed
            // before it got the calendar's lock, or its count of the
            // service's day could miss one: take the lock (exclusively:
            // other limited bookings of the calendar wait) in a statement
            // of its own first (READ COMMITTED: the next statement reads a
            // new snapshot).
            let txn = db.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [
                    PG_LOCK_CALENDAR_APPOINTMENTS.into(),
                    plan.new.calendar_id.to_string().into(),
                ],
            ))
            .await?;
            let row = txn.query_one_raw(statement).await?;
            txn.commit().await?;
            row
        } else {
            db.query_one_raw(statement).await?
        };
        let booked: i64 = match row {
            Some(row) => row.try_get("", "booked")?,
            None => 0,
        };
        Ok(booked == 1)
    }

    /// The database refused the new row (the transaction is over): retry,
    /// or answer who holds the time or the key now.
    async fn after_refusal(
        &self,
        plan: &Plan,
        err: DbErr,
    ) -> Step<Result<BookOutcome, StoreBookError>> {
        match classify(&err) {
            Failure::Transient => Step::Retry("the database asked to retry (busy or deadlock)"),
            Failure::Unique(UniqueRule::ConfirmationCode) => {
                Step::Retry("the confirmation code is taken in this calendar")
            }
            // Someone else stored a conflicting booking between our check and
            // our insert (PostgreSQL: the exclusion constraint or the
            // idempotency index caught it). Read who holds the time now to
            // answer precisely.
            Failure::Overlap | Failure::Unique(UniqueRule::IdempotencyKey) => {
                match decide(&self.db, plan).await {
                    Ok(Some(answer)) => Step::Done(answer),
                    Ok(None) => Step::Retry("the conflicting booking is gone"),
                    Err(e) => fail(e),
                }
            }
            Failure::Unique(_) | Failure::ForeignKey | Failure::Other => {
                fail(anyhow::Error::new(err).context("could not insert the appointment"))
            }
        }
    }

    async fn try_cancel(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        reason: Option<&str>,
        at: DateTime<Utc>,
        record: Option<&AuditEntry>,
    ) -> Step<Result<Appointment, StoreCancelError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e.context("could not begin the cancellation")),
        };
        let result = match cancel_in(&txn, calendar, id, reason, at).await {
            Ok(Ok(cancelled)) => after_change(
                &txn,
                &cancelled,
                WebhookEvent::AppointmentCancelled,
                at,
                record,
            )
            .await
            .map(|()| Ok(cancelled)),
            other => other,
        };
        in_transaction(txn, result, "could not commit the cancellation").await
    }

    async fn try_reschedule(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        new_range: TimeRange,
        buffer: Duration,
        at: DateTime<Utc>,
        record: Option<&AuditEntry>,
    ) -> Step<Result<Appointment, StoreRescheduleError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e.context("could not begin the reschedule")),
        };
        match reschedule_in(&txn, calendar, id, new_range, buffer, at).await {
            Ok(Ok(moved)) => {
                let result = after_change(
                    &txn,
                    &moved,
                    WebhookEvent::AppointmentRescheduled,
                    at,
                    record,
                )
                .await
                .map(|()| Ok(moved));
                in_transaction(txn, result, "could not commit the reschedule").await
            }
            Ok(Err(Moved::Refused(refusal))) => {
                rollback(txn).await;
                Step::Done(Err(refusal))
            }
            Ok(Err(Moved::Retry(reason))) => {
                rollback(txn).await;
                Step::Retry(reason)
            }
            Err(e) => {
                rollback(txn).await;
                fail(e)
            }
        }
    }
}

/// What every change of an appointment writes in its own transaction: its
/// calendar-sync job (when the calendar is connected) and its audit entry.
async fn after_change(
    txn: &DatabaseTransaction,
    appointment: &Appointment,
    event: WebhookEvent,
    at: DateTime<Utc>,
    record: Option<&AuditEntry>,
) -> anyhow::Result<()> {
    sync::enqueue(txn, appointment.calendar_id(), appointment.id(), at).await?;
    webhooks::enqueue(
        txn,
        event,
        Some(appointment.calendar_id()),
        webhooks::appointment_data(appointment),
        at,
    )
    .await?;
    if let Some(entry) = record {
        audit::insert(txn, entry).await?;
    }
    Ok(())
}

/// PostgreSQL: the booking as one statement, a transaction of its own:
/// [`insert_if_free`]'s insert, and — from the row it inserted, so only
/// when it did — the calendar-sync job (when the calendar is connected to
/// Google) and the audit entry `record`. Answers one row, `booked` = 1 or 0.
fn book_statement_postgres(
    plan: &Plan,
    code: &ConfirmationCode,
    record: Option<&AuditEntry>,
) -> Statement {
    let insert = insert_if_free(Backend::Postgres, plan, code);
    let mut values = insert.values.map(|v| v.0).unwrap_or_default();
    // `$17` is the booking's creation time.
    let mut sql = format!(
        r#"WITH "ins" AS ({} RETURNING "id", "calendar_id"),
"job" AS ({})"#,
        insert.sql,
        sync::ENQUEUE_NEW_FROM_INS_POSTGRES,
    );
    let booked = Appointment::from_new(plan.new.clone(), code.clone());
    let (hook, hook_values) = webhooks::booked_postgres(&booked, values.len() + 1);
    sql.push_str(&format!(
        r#",
"hook" AS ({hook})"#
    ));
    values.extend(hook_values);
    if let Some(entry) = record {
        let first = values.len() + 1;
        let placeholders: Vec<String> = (first..first + 8).map(|n| format!("${n}")).collect();
        sql.push_str(&format!(
            r#",
"aud" AS (INSERT INTO "audit_log" ({}) SELECT {} FROM "ins")"#,
            audit::AUDIT_COLUMNS,
            placeholders.join(", ")
        ));
        values.extend(audit::values(entry));
    }
    sql.push_str(r#" SELECT count(*) AS "booked" FROM "ins""#);
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// SQLite: the booking's statements, written in a batch of bookings
/// ([`group_commit`]): inside the booking's savepoint, [`insert_if_free`]'s
/// insert, then — only if the appointment is there, so only when that
/// insert made it (its id is new) — the calendar-sync job (when the
/// calendar is connected to Google) and the audit entry `record`; then one
/// row whose `booked` is 1 when the appointment was written. Each
/// statement takes its own `?` values, in order.
fn book_statement_sqlite(
    plan: &Plan,
    code: &ConfirmationCode,
    record: Option<&AuditEntry>,
) -> Statement {
    let new = &plan.new;
    let insert = insert_if_free(Backend::Sqlite, plan, code);
    let mut values = insert.values.map(|v| v.0).unwrap_or_default();
    let mut sql = format!(
        "{};\n{};\n{}",
        group_commit::SAVEPOINT,
        insert.sql,
        sync::ENQUEUE_NEW_SQLITE
    );
    values.extend(sync::enqueue_new_values_sqlite(
        new.calendar_id,
        new.id,
        new.created_at,
    ));
    sql.push_str(";\n");
    sql.push_str(webhooks::EVENT_SQLITE);
    values.extend(webhooks::booked_values_sqlite(&Appointment::from_new(
        plan.new.clone(),
        code.clone(),
    )));
    if let Some(entry) = record {
        sql.push_str(&format!(
            r#";
INSERT INTO "audit_log" ({}) SELECT ?, ?, ?, ?, ?, ?, ?, ?
WHERE EXISTS (SELECT 1 FROM "appointments" WHERE "id" = ?)"#,
            audit::AUDIT_COLUMNS,
        ));
        values.extend(audit::values(entry));
        values.push(new.id.as_uuid().into());
    }
    sql.push_str(&format!(
        r#";
{};
SELECT EXISTS (SELECT 1 FROM "appointments" WHERE "id" = ?) AS "booked""#,
        group_commit::RELEASE
    ));
    values.push(new.id.as_uuid().into());
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// The booking as one statement (on PostgreSQL a transaction of its own; on
/// SQLite part of a batch's, see [`group_commit`]): insert `plan`'s row
/// unless [`decide`]'s checks find something — an active appointment
/// holding the time (with the same bounds as [`active_holding`]), or the
/// idempotency key already used.
///
/// On PostgreSQL the row to insert comes out of the subquery that takes the
/// calendar's advisory lock in **shared** mode, and the insert is
/// `ON CONFLICT DO NOTHING`:
///
/// - Bookings of one calendar do not wait for each other. Two inserts of
///   overlapping times cannot deadlock on each other's exclusion check:
///   `ON CONFLICT` makes PostgreSQL insert speculatively (it checks the
///   exclusion constraint and the unique indexes first, waiting for a
///   conflicting insert in progress to end, and a conflict found after its
///   own insert withdraws it instead of waiting), and a conflict means
///   "nothing inserted", as the `NOT EXISTS` checks do. The exclusion
///   constraint still decides: exactly one of two overlapping bookings
///   is stored, whatever the timing.
/// - A move or a calendar's deletion ([`hold_calendar`]) takes the same lock
///   in exclusive mode, so it still runs alone among the calendar's
///   bookings (a move's `UPDATE` cannot use `ON CONFLICT`).
///
/// It was an exclusive lock, held until the commit had been flushed: the
/// bookings of a calendar then committed one after the other, one WAL
/// flush each, and waited for the lock most of their time (issue 20,
/// docs/performance.md). `bench/booking.sql` runs the PostgreSQL statement
/// as the pgbench ceiling of a booking.
fn insert_if_free(backend: Backend, plan: &Plan, code: &ConfirmationCode) -> Statement {
    let new = &plan.new;
    let start = new.range.start();
    let from = plan.blocked_from;
    let service = new.service.as_ref();
    let limit = plan.limit();
    // The service's columns, and its daily limit (a `NULL` limit: none).
    let service_id: Option<Uuid> = service.map(|s| s.service.id.as_uuid());
    let service_name: Option<String> = service.map(|s| s.service.name.clone());
    let limit_max: Option<i64> = limit.map(|(_, l)| i64::from(l.max));
    let (day_start, day_end) = limit.map_or((start, start), |(_, l)| {
        (whole_seconds(l.day.start()), ceil_seconds(l.day.end()))
    });
    let row: [sea_orm::Value; 17] = [
        new.id.as_uuid().into(),
        new.calendar_id.as_uuid().into(),
        code.as_str().to_owned().into(),
        start.into(),
        new.range.end().into(),
        plan.blocked_until.into(),
        new.time_zone.name().to_owned().into(),
        AppointmentStatus::Confirmed.as_str().to_owned().into(),
        new.customer_name.as_str().to_owned().into(),
        new.customer_phone.as_str().to_owned().into(),
        new.customer_email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .into(),
        new.purpose.clone().into(),
        new.booked_by.channel.as_str().to_owned().into(),
        new.booked_by.vapi_call_id.clone().into(),
        new.booked_by.tool_call_id.clone().into(),
        new.idempotency_key.clone().into(),
        new.created_at.into(),
    ];
    match backend {
        Backend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"INSERT INTO "appointments" ("id", "calendar_id", "confirmation_code", "starts_at", "ends_at",
  "blocked_until", "time_zone", "status", "customer_name", "customer_phone", "customer_email",
  "purpose", "channel", "vapi_call_id", "tool_call_id", "idempotency_key", "created_at",
  "updated_at", "cancelled_at", "cancel_reason", "blocked_from", "service_id", "service_name")
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, NULL, NULL,
  $22, $24, $25
FROM (SELECT pg_advisory_xact_lock_shared($18, hashtext($19))) AS "held"
WHERE NOT EXISTS (
    SELECT 1 FROM "appointments"
    WHERE "calendar_id" = $2 AND "status" <> $20
      AND "starts_at" < $23 AND "starts_at" > $21 AND "blocked_until" > $22
      AND "blocked_from" < $6)
  AND NOT EXISTS (
    SELECT 1 FROM "appointments" WHERE "calendar_id" = $2 AND "idempotency_key" = $16)
  AND ($26::bigint IS NULL OR (
    SELECT count(*) FROM "appointments"
    WHERE "calendar_id" = $2 AND "status" <> $20 AND "service_id" = $24
      AND "starts_at" >= $27 AND "starts_at" < $28) < $26)
ON CONFLICT DO NOTHING"#,
            row.into_iter().chain([
                PG_LOCK_CALENDAR_APPOINTMENTS.into(),
                new.calendar_id.to_string().into(),
                CANCELLED.to_owned().into(),
                (from - max_hold()).into(),
                from.into(),
                (plan.blocked_until + max_before()).into(),
                service_id.into(),
                service_name.into(),
                limit_max.into(),
                day_start.into(),
                day_end.into(),
            ]),
        ),
        Backend::Sqlite => {
            let [
                id,
                calendar,
                code,
                starts,
                ends,
                blocked,
                zone,
                status,
                name,
                phone,
                email,
                purpose,
                channel,
                call,
                tool,
                key,
                created,
            ] = row;
            Statement::from_sql_and_values(
                DbBackend::Sqlite,
                r#"INSERT INTO "appointments" ("id", "calendar_id", "confirmation_code", "starts_at", "ends_at",
  "blocked_until", "time_zone", "status", "customer_name", "customer_phone", "customer_email",
  "purpose", "channel", "vapi_call_id", "tool_call_id", "idempotency_key", "created_at",
  "updated_at", "cancelled_at", "cancel_reason", "blocked_from", "service_id", "service_name")
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?
WHERE NOT EXISTS (
    SELECT 1 FROM "appointments"
    WHERE "calendar_id" = ? AND "status" <> ?
      AND "starts_at" < ? AND "starts_at" > ? AND "blocked_until" > ? AND "blocked_from" < ?)
  AND NOT EXISTS (
    SELECT 1 FROM "appointments" WHERE "calendar_id" = ? AND "idempotency_key" = ?)
  AND (? IS NULL OR (
    SELECT count(*) FROM "appointments"
    WHERE "calendar_id" = ? AND "status" <> ? AND "service_id" = ?
      AND "starts_at" >= ? AND "starts_at" < ?) < ?)"#,
                [
                    id,
                    calendar.clone(),
                    code,
                    starts,
                    ends,
                    blocked.clone(),
                    zone,
                    status,
                    name,
                    phone,
                    email,
                    purpose,
                    channel,
                    call,
                    tool,
                    key.clone(),
                    created.clone(),
                    created,
                    from.into(),
                    service_id.into(),
                    service_name.into(),
                    calendar.clone(),
                    CANCELLED.to_owned().into(),
                    (plan.blocked_until + max_before()).into(),
                    (from - max_hold()).into(),
                    from.into(),
                    blocked,
                    calendar.clone(),
                    key,
                    limit_max.into(),
                    calendar,
                    CANCELLED.to_owned().into(),
                    service_id.into(),
                    day_start.into(),
                    day_end.into(),
                    limit_max.into(),
                ],
            )
        }
    }
}

async fn cancel_in(
    txn: &DatabaseTransaction,
    calendar: CalendarId,
    id: AppointmentId,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> anyhow::Result<Result<Appointment, StoreCancelError>> {
    let Some(row) = find_for_update(txn, calendar, id).await? else {
        return Ok(Err(StoreCancelError::NotFound));
    };
    let current = rows::appointment(row)?;
    if !current.is_active() {
        return Ok(Err(StoreCancelError::AlreadyCancelled(Box::new(current))));
    }
    let updated = appointments::Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(AppointmentStatus::Cancelled.as_str()),
        )
        .col_expr(Column::CancelledAt, Expr::value(Some(at)))
        .col_expr(Column::CancelReason, Expr::value(reason.map(str::to_owned)))
        .col_expr(Column::UpdatedAt, Expr::value(at))
        .filter(Column::CalendarId.eq(calendar.as_uuid()))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::Status.eq(CONFIRMED))
        .exec(txn)
        .await
        .with_context(|| format!("could not cancel appointment {id}"))?;
    if updated.rows_affected != 1 {
        anyhow::bail!(
            "cancelling appointment {id} changed {} rows",
            updated.rows_affected
        );
    }
    Ok(Ok(reread(txn, calendar, id).await?))
}

/// Why a reschedule try stored nothing.
enum Moved {
    Refused(StoreRescheduleError),
    Retry(&'static str),
}

async fn reschedule_in(
    txn: &DatabaseTransaction,
    calendar: CalendarId,
    id: AppointmentId,
    new_range: TimeRange,
    buffer: Duration,
    at: DateTime<Utc>,
) -> anyhow::Result<Result<Appointment, Moved>> {
    hold_calendar(txn, calendar).await?;
    let Some(row) = find_for_update(txn, calendar, id).await? else {
        return Ok(Err(Moved::Refused(StoreRescheduleError::NotFound)));
    };
    // An appointment of a service keeps the buffers it was booked with;
    // one without keeps the calendar's buffer after it, as asked.
    let before = row
        .blocked_from
        .map_or(Duration::zero(), |from| row.starts_at - from);
    let after = if row.service_id.is_some() {
        row.blocked_until - row.ends_at
    } else {
        buffer
    };
    let blocked_from = whole_seconds(new_range.start() - before);
    let blocked_until = whole_seconds(new_range.with_trailing(after).end());
    check_hold(blocked_from, new_range.start(), blocked_until)?;
    let current = rows::appointment(row)?;
    if !current.is_active() {
        return Ok(Err(Moved::Refused(StoreRescheduleError::Cancelled(
            Box::new(current),
        ))));
    }
    // The appointment's own old time never blocks the move.
    let others = active_holding(
        txn,
        calendar,
        blocked_from,
        blocked_until,
        Some(id.as_uuid()),
    )
    .await?;
    if !others.is_empty() {
        return Ok(Err(Moved::Refused(StoreRescheduleError::SlotTaken)));
    }
    let updated = appointments::Entity::update_many()
        .col_expr(Column::StartsAt, Expr::value(new_range.start()))
        .col_expr(Column::EndsAt, Expr::value(new_range.end()))
        .col_expr(Column::BlockedUntil, Expr::value(blocked_until))
        .col_expr(Column::BlockedFrom, Expr::value(Some(blocked_from)))
        .col_expr(Column::UpdatedAt, Expr::value(at))
        .filter(Column::CalendarId.eq(calendar.as_uuid()))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::Status.eq(CONFIRMED))
        .exec(txn)
        .await;
    match updated {
        Ok(done) if done.rows_affected == 1 => Ok(Ok(reread(txn, calendar, id).await?)),
        Ok(_) => Ok(Err(Moved::Retry("the appointment changed during the move"))),
        Err(err) => match classify(&err) {
            // PostgreSQL: a booking committed between our check and our update.
            Failure::Overlap => Ok(Err(Moved::Refused(StoreRescheduleError::SlotTaken))),
            _ => Err(anyhow::Error::new(err).context(format!("could not move appointment {id}"))),
        },
    }
}

#[async_trait]
impl AppointmentRepository for Store {
    #[tracing::instrument(
        skip_all,
        fields(calendar = %new.calendar_id, appointment = %new.id, backend = ?self.backend)
    )]
    async fn book_recorded(
        &self,
        new: NewAppointment,
        buffer: Duration,
        record: Option<AuditEntry>,
    ) -> Result<BookOutcome, StoreBookError> {
        let plan = Plan::new(new, buffer).context("could not prepare the booking")?;
        self.with_retries("book an appointment", || {
            self.try_book(&plan, record.as_ref())
        })
        .await
    }

    async fn get(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
    ) -> anyhow::Result<Option<Appointment>> {
        appointments::Entity::find()
            .filter(Column::CalendarId.eq(calendar.as_uuid()))
            .filter(Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .with_context(|| format!("could not read appointment {id}"))?
            .map(rows::appointment)
            .transpose()
    }

    async fn find_by_code(
        &self,
        calendar: CalendarId,
        code: &ConfirmationCode,
    ) -> anyhow::Result<Option<Appointment>> {
        appointments::Entity::find()
            .filter(Column::CalendarId.eq(calendar.as_uuid()))
            .filter(Column::ConfirmationCode.eq(code.as_str()))
            .one(&self.db)
            .await
            .context("could not look up an appointment by confirmation code")?
            .map(rows::appointment)
            .transpose()
    }

    async fn find_by_idempotency_key(
        &self,
        calendar: CalendarId,
        key: &str,
    ) -> anyhow::Result<Option<Appointment>> {
        appointments::Entity::find()
            .filter(Column::CalendarId.eq(calendar.as_uuid()))
            .filter(Column::IdempotencyKey.eq(storable(key).as_ref()))
            .one(&self.db)
            .await
            .context("could not look up an appointment by idempotency key")?
            .map(rows::appointment)
            .transpose()
    }

    async fn find_by_phone(
        &self,
        calendar: CalendarId,
        phone: &PhoneNumber,
        from: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Appointment>> {
        appointments::Entity::find()
            .filter(Column::CalendarId.eq(calendar.as_uuid()))
            .filter(Column::CustomerPhone.eq(phone.as_str()))
            .filter(Column::Status.ne(CANCELLED))
            .filter(Column::EndsAt.gt(whole_seconds(from)))
            // implied by the line above (see `max_hold`); bounds the index scan
            .filter(Column::StartsAt.gt(whole_seconds(from) - max_hold()))
            .order_by_asc(Column::StartsAt)
            .order_by_asc(Column::Id)
            .limit(FIND_BY_PHONE_LIMIT)
            .all(&self.db)
            .await
            .context("could not look up appointments by phone")?
            .into_iter()
            .map(rows::appointment)
            .collect()
    }

    async fn busy(
        &self,
        calendar: CalendarId,
        window: TimeRange,
    ) -> anyhow::Result<Vec<TimeRange>> {
        // Stored times are whole seconds, so comparing with the window's
        // ends rounded outwards to whole seconds gives the same answer — and
        // keeps SQLite's text comparison exact.
        let from = whole_seconds(window.start());
        let until = ceil_seconds(window.end());
        let rows = appointments::Entity::find()
            .select_only()
            .column(Column::Id)
            .column(Column::StartsAt)
            .column(Column::EndsAt)
            .filter(Column::CalendarId.eq(calendar.as_uuid()))
            .filter(Column::Status.ne(CANCELLED))
            .filter(Column::StartsAt.lt(until))
            .filter(Column::EndsAt.gt(from))
            // implied by the line above (see `max_hold`); bounds the index scan
            .filter(Column::StartsAt.gt(from - max_hold()))
            .order_by_asc(Column::StartsAt)
            .into_tuple::<(Uuid, DateTime<Utc>, DateTime<Utc>)>()
            .all(&self.db)
            .await
            .context("could not read the busy times")?;
        rows.into_iter()
            .map(|(id, start, end)| {
                TimeRange::new(start, end)
                    .with_context(|| format!("appointment {id}: the stored starts_at/ends_at"))
            })
            .collect()
    }

    async fn held(
        &self,
        calendar: CalendarId,
        window: TimeRange,
    ) -> anyhow::Result<Vec<TimeRange>> {
        let from = whole_seconds(window.start());
        let until = ceil_seconds(window.end());
        let rows = appointments::Entity::find()
            .select_only()
            .column(Column::Id)
            .column(Column::StartsAt)
            .column(Column::BlockedFrom)
            .column(Column::BlockedUntil)
            .filter(Column::CalendarId.eq(calendar.as_uuid()))
            .filter(Column::Status.ne(CANCELLED))
            // implied by the two lines after (see `max_hold`, `max_before`);
            // they bound the index scan
            .filter(Column::StartsAt.lt(until + max_before()))
            .filter(Column::StartsAt.gt(from - max_hold()))
            .filter(Column::BlockedFrom.lt(until))
            .filter(Column::BlockedUntil.gt(from))
            .order_by_asc(Column::StartsAt)
            .into_tuple::<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>, DateTime<Utc>)>()
            .all(&self.db)
            .await
            .context("could not read the held times")?;
        let mut held: Vec<TimeRange> = rows
            .into_iter()
            .map(|(id, start, from, until)| {
                TimeRange::new(from.unwrap_or(start), until).with_context(|| {
                    format!("appointment {id}: the stored blocked_from/blocked_until")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        held.sort_by_key(TimeRange::start);
        Ok(held)
    }

    async fn count_of_service(
        &self,
        calendar: CalendarId,
        service: ServiceId,
        day: TimeRange,
    ) -> anyhow::Result<u64> {
        count_service(&self.db, calendar, service.as_uuid(), day).await
    }

    #[tracing::instrument(skip_all, fields(calendar = %calendar, appointment = %id))]
    async fn cancel_recorded(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        reason: Option<String>,
        at: DateTime<Utc>,
        record: Option<AuditEntry>,
    ) -> Result<Appointment, StoreCancelError> {
        let at = whole_seconds(at);
        let reason = storable_owned(reason);
        let reason = reason.as_deref();
        self.with_retries("cancel an appointment", || {
            self.try_cancel(calendar, id, reason, at, record.as_ref())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(calendar = %calendar, appointment = %id))]
    async fn reschedule_recorded(
        &self,
        calendar: CalendarId,
        id: AppointmentId,
        new_range: TimeRange,
        buffer: Duration,
        at: DateTime<Utc>,
        record: Option<AuditEntry>,
    ) -> Result<Appointment, StoreRescheduleError> {
        let new_range = whole_range(new_range).context("could not prepare the reschedule")?;
        let at = whole_seconds(at);
        self.with_retries("reschedule an appointment", || {
            self.try_reschedule(calendar, id, new_range, buffer, at, record.as_ref())
        })
        .await
    }

    async fn find(&self, id: AppointmentId) -> anyhow::Result<Option<Appointment>> {
        appointments::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .with_context(|| format!("could not read appointment {id}"))?
            .map(rows::appointment)
            .transpose()
    }

    async fn find_by_vapi_call(&self, vapi_call_id: &str) -> anyhow::Result<Vec<Appointment>> {
        appointments::Entity::find()
            .filter(Column::VapiCallId.eq(storable(vapi_call_id).as_ref()))
            .order_by_asc(Column::StartsAt)
            .order_by_asc(Column::Id)
            .limit(FIND_BY_VAPI_CALL_LIMIT)
            .all(&self.db)
            .await
            .context("could not look up the appointments of a call")?
            .into_iter()
            .map(rows::appointment)
            .collect()
    }

    /// Stored times are whole seconds, so the bounds are rounded up to whole
    /// seconds (`s >= from` and `s < to` hold for a whole second `s` exactly
    /// when they hold for the rounded bound) and SQLite's text comparison
    /// stays exact. The page is a range scan of `(calendar_id, starts_at, id)`
    /// for one calendar, of `(starts_at, id)` across calendars.
    async fn list(&self, query: &AppointmentQuery) -> anyhow::Result<Vec<Appointment>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = listing::in_scope(
            appointments::Entity::find(),
            Column::CalendarId,
            query.scope,
        );
        select = listing::within(select, Column::StartsAt, query.from, query.to);
        if let Some(status) = query.status {
            select = select.filter(Column::Status.eq(status.as_str()));
        }
        if let Some(phone) = &query.phone {
            select = select.filter(Column::CustomerPhone.eq(phone.as_str()));
        }
        listing::page(
            select,
            Column::StartsAt,
            Column::Id,
            Order::Asc,
            query.after.map(|(start, id)| (start, id.as_uuid())),
        )
        .limit(query.limit)
        .all(&self.db)
        .await
        .context("could not list appointments")?
        .into_iter()
        .map(rows::appointment)
        .collect()
    }
}
