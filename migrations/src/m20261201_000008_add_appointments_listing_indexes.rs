//! Indexes for listing appointments in (`starts_at`, `id`) order, a page at
//! a time (keyset pagination: `(starts_at, id) > (last page's last)`).
//!
//! - `(calendar_id, starts_at, id)` replaces `(calendar_id, starts_at)`: it
//!   serves every search the old index served (the booking's overlap check,
//!   busy times) and a listing of one calendar as well, including the tie
//!   on `starts_at`.
//! - `(starts_at, id)` serves listings across calendars.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_OLD: &str = "appointments_calendar_starts_at_idx";
const IDX_CALENDAR: &str = "appointments_calendar_starts_at_id_idx";
const IDX_ALL: &str = "appointments_starts_at_id_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(IDX_CALENDAR)
                    .table(Appointments::Table)
                    .col(Appointments::CalendarId)
                    .col(Appointments::StartsAt)
                    .col(Appointments::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_ALL)
                    .table(Appointments::Table)
                    .col(Appointments::StartsAt)
                    .col(Appointments::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(IDX_OLD)
                    .table(Appointments::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(IDX_OLD)
                    .table(Appointments::Table)
                    .col(Appointments::CalendarId)
                    .col(Appointments::StartsAt)
                    .to_owned(),
            )
            .await?;
        for name in [IDX_ALL, IDX_CALENDAR] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Appointments::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    Id,
    CalendarId,
    StartsAt,
}
