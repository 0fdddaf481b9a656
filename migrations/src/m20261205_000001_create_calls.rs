//! `calls`: one record per VAPI call, built from its `status-update` and
//! `end-of-call-report` messages (see the domain's `calls` module for how
//! they are merged).
//!
//! - `vapi_call_id` is unique: concurrent deliveries of one call's messages
//!   meet on it (`INSERT … ON CONFLICT (vapi_call_id) DO NOTHING`, then the
//!   row is locked and merged).
//! - `calendar_id` refers to the calendar the call was routed to; deleting
//!   the calendar keeps its calls without one (`ON DELETE SET NULL`). A new
//!   table can carry the foreign key on SQLite too (the triggers of
//!   `calendars.owner_id` only exist because SQLite cannot drop a column
//!   that a foreign key uses).
//! - `status_rank` is the status's place in `scheduled < queued < ringing <
//!   in-progress < forwarding < ended` (0–5); `reported_facts` is the bit
//!   mask of the facts that came from an end-of-call report;
//!   `duration_seconds` is `ended_at - started_at`; `listed_at` is
//!   `started_at`, else `created_at` — the listing's order, newest first,
//!   with `id` as the tie-break.
//! - `transcript_purged_at`: when retention cleared the transcript and the
//!   recording URL. The partial index `calls_retained_idx` holds only the
//!   calls that still have either, keyed by the instant retention counts
//!   from (`COALESCE(ended_at, updated_at)`), so the hourly purge reads
//!   nothing else.
//! - `appointments_vapi_call_id_idx`: the appointments booked during a call.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_VAPI_CALL_ID: &str = "calls_vapi_call_id_key";
const IDX_LISTED: &str = "calls_listed_at_id_idx";
const IDX_CALENDAR_LISTED: &str = "calls_calendar_listed_at_id_idx";
const IDX_PHONE_LISTED: &str = "calls_customer_phone_listed_at_idx";
const IDX_RETAINED: &str = "calls_retained_idx";
const IDX_APPOINTMENTS_CALL: &str = "appointments_vapi_call_id_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let text = |col: Calls| ColumnDef::new(col).text().null().to_owned();
        let time = |col: Calls| {
            ColumnDef::new(col)
                .timestamp_with_time_zone()
                .null()
                .to_owned()
        };
        let required_time = |col: Calls| {
            ColumnDef::new(col)
                .timestamp_with_time_zone()
                .not_null()
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(Calls::Table)
                    .col(ColumnDef::new(Calls::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Calls::VapiCallId).text().not_null())
                    .col(ColumnDef::new(Calls::CalendarId).uuid().null())
                    .col(text(Calls::Direction))
                    .col(text(Calls::CustomerPhone))
                    .col(text(Calls::Status))
                    .col(ColumnDef::new(Calls::StatusRank).integer().null())
                    .col(text(Calls::EndedReason))
                    .col(time(Calls::StartedAt))
                    .col(time(Calls::EndedAt))
                    .col(ColumnDef::new(Calls::DurationSeconds).big_integer().null())
                    .col(ColumnDef::new(Calls::Cost).double().null())
                    .col(text(Calls::Summary))
                    .col(text(Calls::SuccessEvaluation))
                    .col(text(Calls::Transcript))
                    .col(text(Calls::RecordingUrl))
                    .col(
                        ColumnDef::new(Calls::ReportedFacts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(time(Calls::TranscriptPurgedAt))
                    .col(required_time(Calls::ListedAt))
                    .col(required_time(Calls::CreatedAt))
                    .col(required_time(Calls::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("calls_calendar_id_fkey")
                            .from(Calls::Table, Calls::CalendarId)
                            .to(Calendars::Table, Calendars::Id)
                            .on_delete(ForeignKeyAction::SetNull)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .check(Check::named(
                        "calls_direction_check",
                        Expr::col(Calls::Direction).is_in(["inbound", "outbound", "web"]),
                    ))
                    .check(Check::named(
                        "calls_status_check",
                        Expr::col(Calls::Status).is_in([
                            "scheduled",
                            "queued",
                            "ringing",
                            "in-progress",
                            "forwarding",
                            "ended",
                        ]),
                    ))
                    .check(Check::named(
                        "calls_status_rank_check",
                        Expr::col(Calls::StatusRank).between(0, 5),
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, unique, cols) in [
            (IDX_VAPI_CALL_ID, true, &[Calls::VapiCallId][..]),
            (IDX_LISTED, false, &[Calls::ListedAt, Calls::Id][..]),
            (
                IDX_CALENDAR_LISTED,
                false,
                &[Calls::CalendarId, Calls::ListedAt, Calls::Id][..],
            ),
            (
                IDX_PHONE_LISTED,
                false,
                &[Calls::CustomerPhone, Calls::ListedAt][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Calls::Table);
            if unique {
                index.unique();
            }
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // Both backends take a partial expression index in this spelling.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX {IDX_RETAINED} ON calls ((COALESCE(ended_at, updated_at))) \
                 WHERE transcript IS NOT NULL OR recording_url IS NOT NULL"
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_APPOINTMENTS_CALL)
                    .table(Appointments::Table)
                    .col(Appointments::VapiCallId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(IDX_APPOINTMENTS_CALL)
                    .table(Appointments::Table)
                    .to_owned(),
            )
            .await?;
        // Dropping the table drops its indexes and constraints too.
        manager
            .drop_table(Table::drop().table(Calls::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Calendars {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    VapiCallId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Calls {
    Table,
    Id,
    VapiCallId,
    CalendarId,
    Direction,
    CustomerPhone,
    Status,
    StatusRank,
    EndedReason,
    StartedAt,
    EndedAt,
    DurationSeconds,
    Cost,
    Summary,
    SuccessEvaluation,
    Transcript,
    RecordingUrl,
    ReportedFacts,
    TranscriptPurgedAt,
    ListedAt,
    CreatedAt,
    UpdatedAt,
}
