//! [`ConnectionRepository`] and [`SyncQueue`]: Google Calendar connections,
//! connections in progress, and the calendar-sync outbox.
//!
//! The outbox holds one row per appointment (`appointment_id` is unique).
//! Every change of an appointment [`enqueue`]s in the change's own
//! transaction, when the calendar is connected: a new row, or the existing
//! one with its `generation` increased, back to `pending` with no attempts.
//! A claim leases rows (`locked_until`) and counts the attempt; PostgreSQL
//! picks them with `FOR UPDATE SKIP LOCKED`, so workers in several
//! instances never claim one job together, and a worker that dies only
//! delays its jobs until the lease ends. A job is deleted when done — unless
//! its generation moved while it ran, then it is released to run again, so
//! the last change always reaches Google and two changes of one appointment
//! are never synced at once.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Value};
use uuid::Uuid;
use voice_scheduler_domain::ports::AuditEntry;
use voice_scheduler_domain::sync::{
    Connection, ConnectionRepository, ConnectionStatus, PendingConnect, SealedToken, SyncCounts,
    SyncJob, SyncQueue,
};
use voice_scheduler_domain::{AppointmentId, CalendarId, UserId};

use crate::entities::{google_connections, oauth_states};
use crate::rows::{storable, whole_seconds};
use crate::{Backend, Store, audit, fail, in_transaction};

/// The columns a new job fills, in the order the statements below give them
/// (a macro, so that the constant statements below can `concat!` it).
macro_rules! job_columns {
    () => {
        r#""appointment_id", "calendar_id", "generation", "status", "attempts", "run_at", "locked_until", "last_error", "created_at", "updated_at""#
    };
}
const JOB_COLUMNS: &str = job_columns!();

/// What an enqueue does to an appointment's existing job: a new generation,
/// due now, with no attempts.
const REQUEUE: &str = r#"ON CONFLICT ("appointment_id") DO UPDATE SET "generation" = "calendar_sync_jobs"."generation" + 1,
  "status" = 'pending', "attempts" = 0, "run_at" = excluded."run_at", "last_error" = NULL,
  "updated_at" = excluded."updated_at""#;

/// PostgreSQL, inside the booking statement (`appointments::book_statement_postgres`):
/// the job of the row the `ins` CTE inserted, when its calendar is connected.
/// `$17` is the booking's creation time. A new appointment has no job yet.
pub(crate) const ENQUEUE_NEW_FROM_INS_POSTGRES: &str = concat!(
    r#"INSERT INTO "calendar_sync_jobs" ("#,
    job_columns!(),
    r#")
SELECT "ins"."id", "ins"."calendar_id", 1, 'pending', 0, $17, NULL, NULL, $17, $17 FROM "ins"
WHERE EXISTS (SELECT 1 FROM "google_connections" "c" WHERE "c"."calendar_id" = "ins"."calendar_id")"#
);

/// SQLite: the job of an appointment just inserted by the booking batch,
/// written only when the appointment is there and the calendar is
/// connected. Its values, in order: [`enqueue_new_values_sqlite`].
pub(crate) const ENQUEUE_NEW_SQLITE: &str = concat!(
    r#"INSERT INTO "calendar_sync_jobs" ("#,
    job_columns!(),
    r#")
SELECT ?, ?, 1, 'pending', 0, ?, NULL, NULL, ?, ?
WHERE EXISTS (SELECT 1 FROM "appointments" WHERE "id" = ?)
  AND EXISTS (SELECT 1 FROM "google_connections" WHERE "calendar_id" = ?)"#
);

/// The values of [`ENQUEUE_NEW_SQLITE`] for appointment `id` of `calendar`
/// created `at`.
pub(crate) fn enqueue_new_values_sqlite(
    calendar: CalendarId,
    id: AppointmentId,
    at: DateTime<Utc>,
) -> [Value; 7] {
    let at = whole_seconds(at);
    [
        id.as_uuid().into(),
        calendar.as_uuid().into(),
        at.into(),
        at.into(),
        at.into(),
        id.as_uuid().into(),
        calendar.as_uuid().into(),
    ]
}

/// Queues a sync of appointment `id` of `calendar` (at `at`) when the
/// calendar is connected to Google — in the caller's transaction.
pub(crate) async fn enqueue<C: ConnectionTrait>(
    txn: &C,
    calendar: CalendarId,
    id: AppointmentId,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let at = whole_seconds(at);
    let sql = format!(
        r#"INSERT INTO "calendar_sync_jobs" ({JOB_COLUMNS})
SELECT $1, $2, 1, 'pending', 0, $3, NULL, NULL, $3, $3
WHERE EXISTS (SELECT 1 FROM "google_connections" WHERE "calendar_id" = $2)
{REQUEUE}"#
    );
    txn.execute_raw(Backend::of(txn).statement(
        &sql,
        vec![id.as_uuid().into(), calendar.as_uuid().into(), at.into()],
    ))
    .await
    .with_context(|| format!("could not queue the calendar sync of appointment {id}"))?;
    Ok(())
}

fn connection(row: google_connections::Model) -> anyhow::Result<Connection> {
    Ok(Connection {
        calendar_id: CalendarId::from_uuid(row.calendar_id),
        google_calendar_id: row.google_calendar_id,
        status: ConnectionStatus::parse(&row.status)
            .with_context(|| format!("unknown connection status '{}'", row.status))?,
        refresh_token: SealedToken {
            bytes: row.refresh_token,
            key_id: row.key_id,
        },
        scopes: row.scopes,
        connected_by: row.connected_by.map(UserId::from_uuid),
        connected_at: row.connected_at,
        updated_at: row.updated_at,
        last_synced_at: row.last_synced_at,
        last_error: row.last_error,
    })
}

fn connections(rows: Vec<google_connections::Model>) -> anyhow::Result<Vec<Connection>> {
    rows.into_iter().map(connection).collect()
}

/// The job a claim returned.
fn job(row: &sea_orm::QueryResult) -> anyhow::Result<SyncJob> {
    let id: i64 = row.try_get("", "id")?;
    let calendar: Uuid = row.try_get("", "calendar_id")?;
    let appointment: Uuid = row.try_get("", "appointment_id")?;
    let generation: i64 = row.try_get("", "generation")?;
    let attempts: i32 = row.try_get("", "attempts")?;
    Ok(SyncJob {
        id,
        calendar_id: CalendarId::from_uuid(calendar),
        appointment_id: AppointmentId::from_uuid(appointment),
        generation,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

impl Store {
    async fn write(&self, sql: &str, values: Vec<Value>, what: &str) -> anyhow::Result<u64> {
        let _gate = self.lock_writes().await;
        let done = self
            .db
            .execute_raw(self.backend.statement(sql, values))
            .await
            .with_context(|| format!("could not {what}"))?;
        Ok(done.rows_affected())
    }

    /// Ends a claimed job with `sql` (`$1` its id, `$2` the generation it
    /// was claimed at, then `values`), which changes nothing when the
    /// appointment changed since: then the job is only released, to run
    /// again at once (the newer change is already due).
    async fn settle(
        &self,
        job: &SyncJob,
        sql: &str,
        values: Vec<Value>,
        what: &str,
    ) -> anyhow::Result<()> {
        let mut all: Vec<Value> = vec![job.id.into(), job.generation.into()];
        all.extend(values);
        if self.write(sql, all, what).await? == 0 {
            self.write(
                r#"UPDATE "calendar_sync_jobs" SET "locked_until" = NULL WHERE "id" = $1"#,
                vec![job.id.into()],
                "release a calendar sync job",
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ConnectionRepository for Store {
    async fn save_connection(&self, c: &Connection) -> anyhow::Result<()> {
        let row = google_connections::ActiveModel {
            calendar_id: Set(c.calendar_id.as_uuid()),
            google_calendar_id: Set(storable(&c.google_calendar_id).into_owned()),
            status: Set(c.status.as_str().to_owned()),
            refresh_token: Set(c.refresh_token.bytes.clone()),
            key_id: Set(c.refresh_token.key_id.clone()),
            scopes: Set(c.scopes.clone()),
            connected_by: Set(c.connected_by.map(|u| u.as_uuid())),
            connected_at: Set(whole_seconds(c.connected_at)),
            updated_at: Set(whole_seconds(c.updated_at)),
            last_synced_at: Set(c.last_synced_at.map(whole_seconds)),
            last_error: Set(c.last_error.clone()),
        };
        use google_connections::Column;
        let _gate = self.lock_writes().await;
        google_connections::Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::CalendarId)
                    .update_columns([
                        Column::GoogleCalendarId,
                        Column::Status,
                        Column::RefreshToken,
                        Column::KeyId,
                        Column::Scopes,
                        Column::ConnectedBy,
                        Column::ConnectedAt,
                        Column::UpdatedAt,
                        Column::LastSyncedAt,
                        Column::LastError,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .with_context(|| {
                format!(
                    "could not save the connection of calendar {}",
                    c.calendar_id
                )
            })?;
        Ok(())
    }

    async fn connection(&self, calendar: CalendarId) -> anyhow::Result<Option<Connection>> {
        google_connections::Entity::find_by_id(calendar.as_uuid())
            .one(&self.db)
            .await
            .with_context(|| format!("could not read the connection of calendar {calendar}"))?
            .map(connection)
            .transpose()
    }

    async fn remove_connection(&self, calendar: CalendarId) -> anyhow::Result<Option<Connection>> {
        let Some(found) = self.connection(calendar).await? else {
            return Ok(None);
        };
        let _gate = self.lock_writes().await;
        let deleted = google_connections::Entity::delete_many()
            .filter(google_connections::Column::CalendarId.eq(calendar.as_uuid()))
            .exec(&self.db)
            .await
            .with_context(|| format!("could not delete the connection of calendar {calendar}"))?;
        // Someone else removed it meanwhile: they revoke it.
        Ok((deleted.rows_affected == 1).then_some(found))
    }

    async fn mark_needs_reconnect(
        &self,
        calendar: CalendarId,
        reason: &str,
        at: DateTime<Utc>,
        record: Option<&AuditEntry>,
    ) -> anyhow::Result<bool> {
        self.with_retries("mark a connection as needing reconnecting", || async move {
            let _gate = self.lock_writes().await;
            let txn = match self.begin_write().await {
                Ok(txn) => txn,
                Err(e) => return fail(e),
            };
            let changed = async {
                let done = txn
                    .execute_raw(self.backend.statement(
                        r#"UPDATE "google_connections" SET "status" = 'needs_reconnect', "last_error" = $2, "updated_at" = $3
WHERE "calendar_id" = $1 AND "status" = 'connected'"#,
                        vec![
                            calendar.as_uuid().into(),
                            storable(reason).into_owned().into(),
                            whole_seconds(at).into(),
                        ],
                    ))
                    .await
                    .context("could not mark a connection as needing reconnecting")?;
                let changed = done.rows_affected() == 1;
                if let (true, Some(entry)) = (changed, record) {
                    audit::insert(&txn, entry).await?;
                }
                Ok(Ok::<_, anyhow::Error>(changed))
            }
            .await;
            in_transaction(txn, changed, "could not commit the connection's new status").await
        })
        .await
    }

    async fn mark_synced(&self, calendar: CalendarId, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.write(
            r#"UPDATE "google_connections" SET "last_synced_at" = $2, "last_error" = NULL WHERE "calendar_id" = $1"#,
            vec![calendar.as_uuid().into(), whole_seconds(at).into()],
            "record a calendar sync",
        )
        .await?;
        Ok(())
    }

    async fn connections(&self) -> anyhow::Result<Vec<Connection>> {
        connections(
            google_connections::Entity::find()
                .all(&self.db)
                .await
                .context("could not list the Google connections")?,
        )
    }

    async fn connections_by(&self, user: UserId) -> anyhow::Result<Vec<Connection>> {
        connections(
            google_connections::Entity::find()
                .filter(google_connections::Column::ConnectedBy.eq(user.as_uuid()))
                .all(&self.db)
                .await
                .with_context(|| format!("could not list the Google connections of user {user}"))?,
        )
    }

    async fn reseal(
        &self,
        calendar: CalendarId,
        old: &SealedToken,
        new: &SealedToken,
    ) -> anyhow::Result<bool> {
        let changed = self
            .write(
                r#"UPDATE "google_connections" SET "refresh_token" = $2, "key_id" = $3
WHERE "calendar_id" = $1 AND "refresh_token" = $4"#,
                vec![
                    calendar.as_uuid().into(),
                    new.bytes.clone().into(),
                    new.key_id.clone().into(),
                    old.bytes.clone().into(),
                ],
                "re-seal a Google refresh token",
            )
            .await?;
        Ok(changed == 1)
    }

    async fn save_pending(&self, p: &PendingConnect) -> anyhow::Result<()> {
        // Expired states are of no use: clear them on the way.
        self.write(
            r#"DELETE FROM "oauth_states" WHERE "expires_at" < $1"#,
            vec![whole_seconds(p.created_at).into()],
            "delete expired connection states",
        )
        .await?;
        let row = oauth_states::ActiveModel {
            digest: Set(p.state_digest.clone()),
            user_id: Set(p.user_id.as_uuid()),
            calendar_id: Set(p.calendar_id.as_uuid()),
            google_calendar_id: Set(storable(&p.google_calendar_id).into_owned()),
            created_at: Set(whole_seconds(p.created_at)),
            expires_at: Set(whole_seconds(p.expires_at)),
            code_verifier: Set(p.code_verifier.clone()),
        };
        let _gate = self.lock_writes().await;
        oauth_states::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .context("could not store the connection state")?;
        Ok(())
    }

    async fn take_pending(
        &self,
        state_digest: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<PendingConnect>> {
        let _gate = self.lock_writes().await;
        let taken = self
            .db
            .query_one_raw(self.backend.statement(
                r#"DELETE FROM "oauth_states" WHERE "digest" = $1
RETURNING "user_id", "calendar_id", "google_calendar_id", "created_at", "expires_at", "code_verifier""#,
                vec![state_digest.to_owned().into()],
            ))
            .await
            .context("could not take the connection state")?;
        let Some(row) = taken else {
            return Ok(None);
        };
        let expires_at: DateTime<Utc> = row.try_get("", "expires_at")?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(PendingConnect {
            state_digest: state_digest.to_owned(),
            user_id: UserId::from_uuid(row.try_get("", "user_id")?),
            calendar_id: CalendarId::from_uuid(row.try_get("", "calendar_id")?),
            google_calendar_id: row.try_get("", "google_calendar_id")?,
            created_at: row.try_get("", "created_at")?,
            expires_at,
            code_verifier: row.try_get("", "code_verifier")?,
        }))
    }
}

#[async_trait]
impl SyncQueue for Store {
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> anyhow::Result<Vec<SyncJob>> {
        let now = whole_seconds(now);
        let locking = match self.backend {
            Backend::Postgres => r#"FOR UPDATE OF "j" SKIP LOCKED"#,
            // One writer at a time already.
            Backend::Sqlite => "",
        };
        let sql = format!(
            r#"UPDATE "calendar_sync_jobs" SET "locked_until" = $2, "attempts" = "attempts" + 1
WHERE "id" IN (
  SELECT "j"."id" FROM "calendar_sync_jobs" "j"
  JOIN "google_connections" "c" ON "c"."calendar_id" = "j"."calendar_id"
  WHERE "j"."status" = 'pending' AND "j"."run_at" <= $1
    AND ("j"."locked_until" IS NULL OR "j"."locked_until" <= $1)
    AND "c"."status" = 'connected'
  ORDER BY "j"."run_at", "j"."id" LIMIT $3 {locking})
RETURNING "id", "calendar_id", "appointment_id", "generation", "attempts""#
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let _gate = self.lock_writes().await;
        let rows = self
            .db
            .query_all_raw(self.backend.statement(
                &sql,
                vec![now.into(), whole_seconds(now + lease).into(), limit.into()],
            ))
            .await
            .context("could not claim calendar sync jobs")?;
        rows.iter().map(job).collect()
    }

    async fn done(&self, job: &SyncJob) -> anyhow::Result<()> {
        self.settle(
            job,
            r#"DELETE FROM "calendar_sync_jobs" WHERE "id" = $1 AND "generation" = $2"#,
            Vec::new(),
            "finish a calendar sync job",
        )
        .await
    }

    async fn retry_at(&self, job: &SyncJob, at: DateTime<Utc>, error: &str) -> anyhow::Result<()> {
        self.settle(
            job,
            r#"UPDATE "calendar_sync_jobs" SET "run_at" = $3, "locked_until" = NULL, "last_error" = $4, "updated_at" = $3
WHERE "id" = $1 AND "generation" = $2"#,
            vec![whole_seconds(at).into(), storable(error).into_owned().into()],
            "reschedule a calendar sync job",
        )
        .await
    }

    async fn fail(&self, job: &SyncJob, error: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.settle(
            job,
            r#"UPDATE "calendar_sync_jobs" SET "status" = 'failed', "locked_until" = NULL, "updated_at" = $3, "last_error" = $4
WHERE "id" = $1 AND "generation" = $2"#,
            vec![whole_seconds(at).into(), storable(error).into_owned().into()],
            "mark a calendar sync job failed",
        )
        .await
    }

    async fn enqueue_upcoming(
        &self,
        calendar: CalendarId,
        from: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let sql = format!(
            r#"INSERT INTO "calendar_sync_jobs" ({JOB_COLUMNS})
SELECT "a"."id", "a"."calendar_id", 1, 'pending', 0, $2, NULL, NULL, $2, $2 FROM "appointments" "a"
WHERE "a"."calendar_id" = $1 AND "a"."ends_at" > $2
{REQUEUE}"#
        );
        self.write(
            &sql,
            vec![calendar.as_uuid().into(), whole_seconds(from).into()],
            "queue the upcoming appointments of a calendar",
        )
        .await
    }

    async fn retry_failed(&self, calendar: CalendarId, at: DateTime<Utc>) -> anyhow::Result<u64> {
        self.write(
            r#"UPDATE "calendar_sync_jobs" SET "status" = 'pending', "attempts" = 0, "run_at" = $2, "locked_until" = NULL, "updated_at" = $2
WHERE "calendar_id" = $1 AND "status" = 'failed'"#,
            vec![calendar.as_uuid().into(), whole_seconds(at).into()],
            "retry failed calendar sync jobs",
        )
        .await
    }

    async fn counts(&self, calendar: CalendarId) -> anyhow::Result<SyncCounts> {
        let row = self
            .db
            .query_one_raw(self.backend.statement(r#"SELECT COALESCE(SUM(CASE WHEN "status" = 'pending' THEN 1 ELSE 0 END), 0) AS "pending",
  COALESCE(SUM(CASE WHEN "status" = 'failed' THEN 1 ELSE 0 END), 0) AS "failed"
FROM "calendar_sync_jobs" WHERE "calendar_id" = $1"#,
                vec![calendar.as_uuid().into()],
            ))
            .await
            .context("could not count calendar sync jobs")?;
        let Some(row) = row else {
            return Ok(SyncCounts::default());
        };
        let pending: i64 = row.try_get("", "pending")?;
        let failed: i64 = row.try_get("", "failed")?;
        let last_error = self
            .db
            .query_one_raw(self.backend.statement(r#"SELECT "last_error" FROM "calendar_sync_jobs"
WHERE "calendar_id" = $1 AND "last_error" IS NOT NULL ORDER BY "updated_at" DESC, "id" DESC LIMIT 1"#,
                vec![calendar.as_uuid().into()],
            ))
            .await
            .context("could not read the last calendar sync failure")?
            .map(|row| row.try_get::<String>("", "last_error"))
            .transpose()?;
        Ok(SyncCounts {
            pending: u64::try_from(pending).unwrap_or(0),
            failed: u64::try_from(failed).unwrap_or(0),
            last_error,
        })
    }
}
