//! [`WebhookRepository`]: webhook endpoints and the delivery outbox.
//!
//! Events are written by the change that causes them, in its transaction:
//! one `INSERT … SELECT` over the endpoints whose event mask and calendar
//! scope match, so a change writes one delivery row per matching endpoint
//! and nothing when there is none ([`EVENT_FROM_INS_POSTGRES`] inside the
//! PostgreSQL booking statement, [`EVENT_SQLITE`] in the SQLite booking
//! batch, [`enqueue`] in cancel and reschedule transactions). A claim leases
//! rows (`locked_until`) and counts the attempt; PostgreSQL picks them with
//! `FOR UPDATE SKIP LOCKED`, so workers in several instances never claim
//! one delivery together, and a worker that dies only delays it until the
//! lease ends.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Value};
use serde_json::json;
use uuid::Uuid;
use voice_scheduler_domain::appointment::Appointment;
use voice_scheduler_domain::ports::AuditEntry;
use voice_scheduler_domain::sync::SealedToken;
use voice_scheduler_domain::webhooks::{
    Delivery, DeliveryStatus, OutgoingDelivery, Webhook, WebhookEvent, WebhookId, WebhookRepository,
};
use voice_scheduler_domain::{CalendarId, UserId};

use crate::rows::{storable, whole_seconds};
use crate::{Backend, Store, audit, fail, in_transaction};

/// The columns an event's deliveries fill, in the order the statements
/// below give them.
macro_rules! delivery_columns {
    () => {
        r#""endpoint_id", "event_id", "event", "data", "event_created_at", "status", "attempts", "run_at", "locked_until", "queued_at", "last_status", "last_error", "updated_at", "delivered_at""#
    };
}

/// PostgreSQL, inside the booking statement: the deliveries of the
/// `appointment.booked` event of the row the `ins` CTE inserted. `$A` is the
/// event id, `$B` the data, `$C` the time, `$D` the event's bit (replaced by
/// [`booked_postgres`]).
const EVENT_FROM_INS_POSTGRES: &str = concat!(
    r#"INSERT INTO "webhook_deliveries" ("#,
    delivery_columns!(),
    r#")
SELECT "e"."id", $A, 'appointment.booked', $B, $C, 'pending', 0, $C, NULL, $C, NULL, NULL, $C, NULL
FROM "webhook_endpoints" "e", "ins"
WHERE ("e"."event_mask" & $D) <> 0 AND ("e"."calendar_id" IS NULL OR "e"."calendar_id" = "ins"."calendar_id")"#
);

/// The `"hook"` CTE of the PostgreSQL booking statement, its placeholders
/// numbered from `first`, and its values.
pub(crate) fn booked_postgres(appointment: &Appointment, first: usize) -> (String, Vec<Value>) {
    let sql = EVENT_FROM_INS_POSTGRES
        .replace("$A", &format!("${first}"))
        .replace("$B", &format!("${}", first + 1))
        .replace("$C", &format!("${}", first + 2))
        .replace("$D", &format!("${}", first + 3));
    (
        sql,
        event_values(appointment, WebhookEvent::AppointmentBooked).to_vec(),
    )
}

/// SQLite: the deliveries of an appointment just inserted by the booking
/// batch, written only when the appointment is there. Its values:
/// [`booked_values_sqlite`].
pub(crate) const EVENT_SQLITE: &str = concat!(
    r#"INSERT INTO "webhook_deliveries" ("#,
    delivery_columns!(),
    r#")
SELECT "e"."id", ?, 'appointment.booked', ?, ?, 'pending', 0, ?, NULL, ?, NULL, NULL, ?, NULL
FROM "webhook_endpoints" "e"
WHERE ("e"."event_mask" & ?) <> 0 AND ("e"."calendar_id" IS NULL OR "e"."calendar_id" = ?)
  AND EXISTS (SELECT 1 FROM "appointments" WHERE "id" = ?)"#
);

pub(crate) fn booked_values_sqlite(appointment: &Appointment) -> [Value; 9] {
    let [id, data, at, bit] = event_values(appointment, WebhookEvent::AppointmentBooked);
    [
        id,
        data,
        at.clone(),
        at.clone(),
        at.clone(),
        at,
        bit,
        appointment.calendar_id().as_uuid().into(),
        appointment.id().as_uuid().into(),
    ]
}

/// A fresh event id, the event's data, its time and its bit.
fn event_values(appointment: &Appointment, event: WebhookEvent) -> [Value; 4] {
    [
        Uuid::new_v4().into(),
        appointment_data(appointment).into(),
        whole_seconds(appointment.updated_at()).into(),
        event.bit().into(),
    ]
}

/// The `data` of an appointment event: the appointment as it is after the
/// change.
pub(crate) fn appointment_data(a: &Appointment) -> String {
    json!({
        "appointment": {
            "id": a.id().as_uuid(),
            "calendar_id": a.calendar_id().as_uuid(),
            "confirmation_code": a.confirmation_code().as_str(),
            "status": a.status().as_str(),
            "starts_at": a.range().start(),
            "ends_at": a.range().end(),
            "time_zone": a.time_zone().name(),
            "customer": {
                "name": a.customer_name().as_str(),
                "phone": a.customer_phone().as_str(),
                "email": a.customer_email().map(|e| e.as_str()),
            },
            "purpose": a.purpose(),
            "channel": a.booked_by().channel.as_str(),
            "vapi_call_id": a.booked_by().vapi_call_id,
            "created_at": a.created_at(),
            "updated_at": a.updated_at(),
            "cancelled_at": a.cancelled_at(),
            "cancel_reason": a.cancel_reason(),
        }
    })
    .to_string()
}

/// The `data` of a `call.ended` event: the call's facts, without its
/// transcript and recording.
pub(crate) fn call_data(c: &voice_scheduler_domain::Call) -> String {
    json!({
        "call": {
            "id": c.id.as_uuid(),
            "vapi_call_id": c.vapi_call_id,
            "calendar_id": c.calendar_id.map(|id| id.as_uuid()),
            "direction": c.direction.map(|d| d.as_str()),
            "status": c.status.map(|s| s.as_str()),
            "customer_phone": c.customer_phone.as_ref().map(|p| p.as_str()),
            "ended_reason": c.ended_reason,
            "started_at": c.started_at,
            "ended_at": c.ended_at,
            "cost": c.cost,
            "summary": c.summary,
            "success_evaluation": c.success_evaluation,
        }
    })
    .to_string()
}

/// Queues `event` about `calendar` (`None`: only endpoints of every
/// calendar hear it) with `data` for every matching endpoint, in the
/// caller's transaction; nothing when none matches.
pub(crate) async fn enqueue<C: ConnectionTrait>(
    txn: &C,
    event: WebhookEvent,
    calendar: Option<CalendarId>,
    data: String,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let sql = concat!(
        r#"INSERT INTO "webhook_deliveries" ("#,
        delivery_columns!(),
        r#")
SELECT "e"."id", $1, $2, $3, $4, 'pending', 0, $4, NULL, $4, NULL, NULL, $4, NULL
FROM "webhook_endpoints" "e"
WHERE ("e"."event_mask" & $5) <> 0 AND ("e"."calendar_id" IS NULL OR "e"."calendar_id" = $6)"#
    );
    txn.execute_raw(Backend::of(txn).statement(
        sql,
        vec![
            Uuid::new_v4().into(),
            event.as_str().to_owned().into(),
            data.into(),
            whole_seconds(at).into(),
            event.bit().into(),
            calendar.map(|c| c.as_uuid()).into(),
        ],
    ))
    .await
    .with_context(|| format!("could not queue the webhook event {}", event.as_str()))?;
    Ok(())
}

const ENDPOINT_COLUMNS: &str = r#""id", "url", "event_mask", "calendar_id", "description", "secret", "key_id", "created_by", "created_at""#;

fn endpoint(row: &sea_orm::QueryResult) -> anyhow::Result<Webhook> {
    let mask: i64 = row.try_get("", "event_mask")?;
    Ok(Webhook {
        id: WebhookId::from_uuid(row.try_get("", "id")?),
        url: row.try_get("", "url")?,
        events: WebhookEvent::from_mask(mask),
        calendar_id: row
            .try_get::<Option<Uuid>>("", "calendar_id")?
            .map(CalendarId::from_uuid),
        description: row.try_get("", "description")?,
        created_by: row
            .try_get::<Option<Uuid>>("", "created_by")?
            .map(UserId::from_uuid),
        created_at: row.try_get("", "created_at")?,
        secret: SealedToken {
            bytes: row.try_get("", "secret")?,
            key_id: row.try_get("", "key_id")?,
        },
    })
}

const DELIVERY_COLUMNS: &str = r#""id", "endpoint_id", "event_id", "event", "status", "attempts", "run_at", "last_status", "last_error", "event_created_at", "updated_at", "delivered_at""#;

fn delivery(row: &sea_orm::QueryResult) -> anyhow::Result<Delivery> {
    let status: String = row.try_get("", "status")?;
    let status = DeliveryStatus::parse(&status)
        .with_context(|| format!("unknown delivery status '{status}'"))?;
    let attempts: i32 = row.try_get("", "attempts")?;
    let last_status: Option<i32> = row.try_get("", "last_status")?;
    let run_at: DateTime<Utc> = row.try_get("", "run_at")?;
    Ok(Delivery {
        id: row.try_get("", "id")?,
        webhook_id: WebhookId::from_uuid(row.try_get("", "endpoint_id")?),
        event_id: row.try_get("", "event_id")?,
        event: row.try_get("", "event")?,
        status,
        attempts: u32::try_from(attempts).unwrap_or(0),
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.try_get("", "last_error")?,
        created_at: row.try_get("", "event_created_at")?,
        updated_at: row.try_get("", "updated_at")?,
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(run_at),
        delivered_at: row.try_get("", "delivered_at")?,
    })
}

fn outgoing(row: &sea_orm::QueryResult) -> anyhow::Result<OutgoingDelivery> {
    let attempts: i32 = row.try_get("", "attempts")?;
    Ok(OutgoingDelivery {
        id: row.try_get("", "id")?,
        webhook_id: WebhookId::from_uuid(row.try_get("", "endpoint_id")?),
        url: row.try_get("", "url")?,
        secret: SealedToken {
            bytes: row.try_get("", "secret")?,
            key_id: row.try_get("", "key_id")?,
        },
        event_id: row.try_get("", "event_id")?,
        event: row.try_get("", "event")?,
        event_created_at: row.try_get("", "event_created_at")?,
        data: row.try_get("", "data")?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        queued_at: row.try_get("", "queued_at")?,
    })
}

impl Store {
    /// Runs `sql` and `record` in one transaction; answers the rows `sql`
    /// changed (the entry is written only when it changed some).
    async fn write_recorded(
        &self,
        sql: &str,
        values: Vec<Value>,
        record: &AuditEntry,
        what: &'static str,
    ) -> anyhow::Result<u64> {
        self.with_retries(what, || {
            let values = values.clone();
            async move {
                let _gate = self.lock_writes().await;
                let txn = match self.begin_write().await {
                    Ok(txn) => txn,
                    Err(e) => return fail(e),
                };
                let result = async {
                    let done = txn
                        .execute_raw(self.backend.statement(sql, values))
                        .await
                        .with_context(|| format!("could not {what}"))?;
                    if done.rows_affected() > 0 {
                        audit::insert(&txn, record).await?;
                    }
                    Ok(Ok::<_, anyhow::Error>(done.rows_affected()))
                }
                .await;
                in_transaction(txn, result, "could not commit a webhook change").await
            }
        })
        .await
    }

    async fn write_webhooks(
        &self,
        sql: &str,
        values: Vec<Value>,
        what: &'static str,
    ) -> anyhow::Result<u64> {
        let _gate = self.lock_writes().await;
        let done = self
            .db
            .execute_raw(self.backend.statement(sql, values))
            .await
            .with_context(|| format!("could not {what}"))?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl WebhookRepository for Store {
    async fn create_webhook(&self, hook: &Webhook, record: &AuditEntry) -> anyhow::Result<()> {
        let sql = format!(
            "INSERT INTO \"webhook_endpoints\" ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        self.write_recorded(
            &sql,
            vec![
                hook.id.as_uuid().into(),
                storable(&hook.url).into_owned().into(),
                WebhookEvent::mask(&hook.events).into(),
                hook.calendar_id.map(|c| c.as_uuid()).into(),
                hook.description
                    .as_deref()
                    .map(|d| storable(d).into_owned())
                    .into(),
                hook.secret.bytes.clone().into(),
                hook.secret.key_id.clone().into(),
                hook.created_by.map(|u| u.as_uuid()).into(),
                whole_seconds(hook.created_at).into(),
            ],
            record,
            "register a webhook",
        )
        .await?;
        Ok(())
    }

    async fn webhook(&self, id: WebhookId) -> anyhow::Result<Option<Webhook>> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM \"webhook_endpoints\" WHERE \"id\" = $1");
        self.db
            .query_one_raw(self.backend.statement(&sql, vec![id.as_uuid().into()]))
            .await
            .with_context(|| format!("could not read webhook {id}"))?
            .as_ref()
            .map(endpoint)
            .transpose()
    }

    async fn webhooks(&self) -> anyhow::Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM \"webhook_endpoints\" ORDER BY \"created_at\", \"id\""
        );
        self.db
            .query_all_raw(self.backend.statement(&sql, vec![]))
            .await
            .context("could not list webhooks")?
            .iter()
            .map(endpoint)
            .collect()
    }

    async fn delete_webhook(&self, id: WebhookId, record: &AuditEntry) -> anyhow::Result<bool> {
        // Deliveries go with it (and explicitly, for SQLite connections
        // without foreign keys enforced).
        self.write_webhooks(
            r#"DELETE FROM "webhook_deliveries" WHERE "endpoint_id" = $1"#,
            vec![id.as_uuid().into()],
            "delete a webhook's deliveries",
        )
        .await?;
        let deleted = self
            .write_recorded(
                r#"DELETE FROM "webhook_endpoints" WHERE "id" = $1"#,
                vec![id.as_uuid().into()],
                record,
                "delete a webhook",
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn deliveries(&self, id: WebhookId, limit: u64) -> anyhow::Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM \"webhook_deliveries\" WHERE \"endpoint_id\" = $1 ORDER BY \"id\" DESC LIMIT $2"
        );
        self.db
            .query_all_raw(self.backend.statement(
                &sql,
                vec![
                    id.as_uuid().into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await
            .with_context(|| format!("could not read the deliveries of webhook {id}"))?
            .iter()
            .map(delivery)
            .collect()
    }

    async fn redeliver(
        &self,
        id: WebhookId,
        delivery_id: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<Delivery>> {
        let at = whole_seconds(at);
        let sql = format!(
            r#"UPDATE "webhook_deliveries" SET "status" = 'pending', "attempts" = 0, "run_at" = $3,
  "locked_until" = CASE WHEN "status" = 'pending' THEN "locked_until" ELSE NULL END,
  "queued_at" = $3, "updated_at" = $3
WHERE "id" = $1 AND "endpoint_id" = $2
RETURNING {DELIVERY_COLUMNS}"#
        );
        let _gate = self.lock_writes().await;
        self.db
            .query_one_raw(self.backend.statement(
                &sql,
                vec![delivery_id.into(), id.as_uuid().into(), at.into()],
            ))
            .await
            .context("could not queue a webhook delivery again")?
            .as_ref()
            .map(delivery)
            .transpose()
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> anyhow::Result<Vec<OutgoingDelivery>> {
        let now = whole_seconds(now);
        let locking = match self.backend {
            Backend::Postgres => r#"FOR UPDATE OF "d" SKIP LOCKED"#,
            // One writer at a time already.
            Backend::Sqlite => "",
        };
        let sql = format!(
            r#"UPDATE "webhook_deliveries" SET "locked_until" = $2, "attempts" = "attempts" + 1
WHERE "id" IN (
  SELECT "d"."id" FROM "webhook_deliveries" "d"
  WHERE "d"."status" = 'pending' AND "d"."run_at" <= $1
    AND ("d"."locked_until" IS NULL OR "d"."locked_until" <= $1)
  ORDER BY "d"."run_at", "d"."id" LIMIT $3 {locking})
RETURNING "id""#
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids: Vec<i64> = {
            let _gate = self.lock_writes().await;
            self.db
                .query_all_raw(self.backend.statement(
                    &sql,
                    vec![now.into(), whole_seconds(now + lease).into(), limit.into()],
                ))
                .await
                .context("could not claim webhook deliveries")?
                .iter()
                .map(|row| row.try_get::<i64>("", "id"))
                .collect::<Result<_, _>>()?
        };
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let row = self
                .db
                .query_one_raw(self.backend.statement(
                    r#"SELECT "d"."id", "d"."endpoint_id", "e"."url", "e"."secret", "e"."key_id", "d"."event_id",
  "d"."event", "d"."event_created_at", "d"."data", "d"."attempts", "d"."queued_at"
FROM "webhook_deliveries" "d" JOIN "webhook_endpoints" "e" ON "e"."id" = "d"."endpoint_id"
WHERE "d"."id" = $1"#,
                    vec![id.into()],
                ))
                .await
                .context("could not read a claimed webhook delivery")?;
            if let Some(row) = row {
                claimed.push(outgoing(&row)?);
            }
        }
        Ok(claimed)
    }

    async fn delivered(
        &self,
        d: &OutgoingDelivery,
        status: u16,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let at = whole_seconds(at);
        self.write_webhooks(
            r#"UPDATE "webhook_deliveries" SET "status" = 'delivered', "locked_until" = NULL, "last_status" = $2,
  "last_error" = NULL, "updated_at" = $3, "delivered_at" = $3
WHERE "id" = $1"#,
            vec![d.id.into(), i32::from(status).into(), at.into()],
            "record a webhook delivery",
        )
        .await?;
        Ok(())
    }

    async fn retry_delivery(
        &self,
        d: &OutgoingDelivery,
        status: Option<u16>,
        error: &str,
        next: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.write_webhooks(
            r#"UPDATE "webhook_deliveries" SET "run_at" = $2, "locked_until" = NULL, "last_status" = $3,
  "last_error" = $4, "updated_at" = $5
WHERE "id" = $1 AND "status" = 'pending'"#,
            vec![
                d.id.into(),
                whole_seconds(next).into(),
                status.map(i32::from).into(),
                storable(error).into_owned().into(),
                whole_seconds(at).into(),
            ],
            "reschedule a webhook delivery",
        )
        .await?;
        Ok(())
    }

    async fn fail_delivery(
        &self,
        d: &OutgoingDelivery,
        status: Option<u16>,
        error: &str,
        at: DateTime<Utc>,
        record: &AuditEntry,
    ) -> anyhow::Result<()> {
        self.write_recorded(
            r#"UPDATE "webhook_deliveries" SET "status" = 'failed', "locked_until" = NULL, "last_status" = $2,
  "last_error" = $3, "updated_at" = $4
WHERE "id" = $1 AND "status" = 'pending'"#,
            vec![
                d.id.into(),
                status.map(i32::from).into(),
                storable(error).into_owned().into(),
                whole_seconds(at).into(),
            ],
            record,
            "mark a webhook delivery failed",
        )
        .await?;
        Ok(())
    }
}
