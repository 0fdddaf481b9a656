//! `appointments`: every booking, active or cancelled.
//!
//! An appointment holds `[starts_at, blocked_until)`, where `blocked_until` is
//! `ends_at` plus the calendar's buffer at booking time. Overlap of active
//! appointments is prevented by the store (SQLite: one `BEGIN IMMEDIATE`
//! transaction) and, on PostgreSQL, by the exclusion constraint of the next
//! migration.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_CODE: &str = "appointments_calendar_code_key";
const IDX_IDEMPOTENCY: &str = "appointments_calendar_idempotency_key_key";
const IDX_STARTS_AT: &str = "appointments_calendar_starts_at_idx";
const IDX_PHONE: &str = "appointments_calendar_phone_starts_at_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Appointments::Table)
                    .col(
                        ColumnDef::new(Appointments::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Appointments::CalendarId).uuid().not_null())
                    .col(
                        ColumnDef::new(Appointments::ConfirmationCode)
                            .text()
                            .not_null(),
                    )
                    .col(timestamptz(Appointments::StartsAt))
                    .col(timestamptz(Appointments::EndsAt))
                    .col(timestamptz(Appointments::BlockedUntil))
                    .col(ColumnDef::new(Appointments::TimeZone).text().not_null())
                    .col(ColumnDef::new(Appointments::Status).text().not_null())
                    .col(ColumnDef::new(Appointments::CustomerName).text().not_null())
                    .col(
                        ColumnDef::new(Appointments::CustomerPhone)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Appointments::CustomerEmail).text().null())
                    .col(ColumnDef::new(Appointments::Purpose).text().null())
                    .col(ColumnDef::new(Appointments::Channel).text().not_null())
                    .col(ColumnDef::new(Appointments::VapiCallId).text().null())
                    .col(ColumnDef::new(Appointments::ToolCallId).text().null())
                    .col(ColumnDef::new(Appointments::IdempotencyKey).text().null())
                    .col(timestamptz(Appointments::CreatedAt))
                    .col(timestamptz(Appointments::UpdatedAt))
                    .col(
                        ColumnDef::new(Appointments::CancelledAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Appointments::CancelReason).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("appointments_calendar_id_fkey")
                            .from(Appointments::Table, Appointments::CalendarId)
                            .to(Calendars::Table, Calendars::Id)
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .check(Check::named(
                        "appointments_status_check",
                        Expr::col(Appointments::Status).is_in(["confirmed", "cancelled"]),
                    ))
                    .check(Check::named(
                        "appointments_channel_check",
                        Expr::col(Appointments::Channel).is_in(["voice", "api"]),
                    ))
                    .check(Check::named(
                        "appointments_range_check",
                        Expr::col(Appointments::EndsAt).gt(Expr::col(Appointments::StartsAt)),
                    ))
                    .check(Check::named(
                        "appointments_blocked_until_check",
                        Expr::col(Appointments::BlockedUntil).gte(Expr::col(Appointments::EndsAt)),
                    ))
                    .to_owned(),
            )
            .await?;

        // NULL idempotency keys never collide (on PostgreSQL and on SQLite), so
        // a plain unique index is enough.
        for (name, unique, cols) in [
            (
                IDX_CODE,
                true,
                &[Appointments::CalendarId, Appointments::ConfirmationCode][..],
            ),
            (
                IDX_IDEMPOTENCY,
                true,
                &[Appointments::CalendarId, Appointments::IdempotencyKey][..],
            ),
            (
                IDX_STARTS_AT,
                false,
                &[Appointments::CalendarId, Appointments::StartsAt][..],
            ),
            (
                IDX_PHONE,
                false,
                &[
                    Appointments::CalendarId,
                    Appointments::CustomerPhone,
                    Appointments::StartsAt,
                ][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Appointments::Table);
            if unique {
                index.unique();
            }
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its indexes and constraints too.
        manager
            .drop_table(Table::drop().table(Appointments::Table).to_owned())
            .await
    }
}

fn timestamptz(col: Appointments) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[derive(DeriveIden)]
enum Calendars {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Appointments {
    Table,
    Id,
    CalendarId,
    ConfirmationCode,
    StartsAt,
    EndsAt,
    BlockedUntil,
    TimeZone,
    Status,
    CustomerName,
    CustomerPhone,
    CustomerEmail,
    Purpose,
    Channel,
    VapiCallId,
    ToolCallId,
    IdempotencyKey,
    CreatedAt,
    UpdatedAt,
    CancelledAt,
    CancelReason,
}
