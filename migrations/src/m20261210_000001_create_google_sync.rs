//! Google Calendar connections and the calendar-sync outbox.
//!
//! - `google_connections`: at most one per calendar. The refresh token is
//!   stored sealed (XChaCha20-Poly1305, `key_id || nonce || ciphertext`, its
//!   associated data binding it to the calendar); `key_id` repeats the key's
//!   id so rows still sealed with an older key are found without opening
//!   them.
//! - `oauth_states`: the `state` of a connection in progress, stored only as
//!   a SHA-256 digest, bound to the user and calendar that started it,
//!   single-use (taken by deleting it) and short-lived.
//! - `calendar_sync_jobs`: the outbox. A booking, a move or a cancellation
//!   writes "sync appointment X" in the same transaction as the change; one
//!   row per appointment (`appointment_id` is unique), whose `generation`
//!   grows with every change, so a worker that synced an older generation
//!   leaves the row for the next round instead of deleting it. Done jobs are
//!   deleted; `failed` ones stay until retried.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_JOBS_DUE: &str = "calendar_sync_jobs_status_run_at_idx";
const IDX_JOBS_CALENDAR: &str = "calendar_sync_jobs_calendar_id_idx";
const IDX_STATES_EXPIRES: &str = "oauth_states_expires_at_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GoogleConnections::Table)
                    .col(
                        ColumnDef::new(GoogleConnections::CalendarId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(GoogleConnections::GoogleCalendarId)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(GoogleConnections::Status).text().not_null())
                    .col(
                        ColumnDef::new(GoogleConnections::RefreshToken)
                            .blob()
                            .not_null(),
                    )
                    .col(ColumnDef::new(GoogleConnections::KeyId).text().not_null())
                    .col(ColumnDef::new(GoogleConnections::Scopes).text().null())
                    .col(ColumnDef::new(GoogleConnections::ConnectedBy).uuid().null())
                    .col(
                        ColumnDef::new(GoogleConnections::ConnectedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(GoogleConnections::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(GoogleConnections::LastSyncedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(GoogleConnections::LastError).text().null())
                    .check(Check::named(
                        "google_connections_status_check",
                        Expr::col(GoogleConnections::Status)
                            .is_in(["connected", "needs_reconnect"]),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("google_connections_calendar_id_fkey")
                            .from(GoogleConnections::Table, GoogleConnections::CalendarId)
                            .to(Calendars::Table, Calendars::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("google_connections_connected_by_fkey")
                            .from(GoogleConnections::Table, GoogleConnections::ConnectedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .col(
                        ColumnDef::new(OauthStates::Digest)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OauthStates::UserId).uuid().not_null())
                    .col(ColumnDef::new(OauthStates::CalendarId).uuid().not_null())
                    .col(
                        ColumnDef::new(OauthStates::GoogleCalendarId)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthStates::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthStates::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("oauth_states_user_id_fkey")
                            .from(OauthStates::Table, OauthStates::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("oauth_states_calendar_id_fkey")
                            .from(OauthStates::Table, OauthStates::CalendarId)
                            .to(Calendars::Table, Calendars::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_STATES_EXPIRES)
                    .table(OauthStates::Table)
                    .col(OauthStates::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarSyncJobs::Table)
                    .col(
                        ColumnDef::new(CalendarSyncJobs::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CalendarSyncJobs::AppointmentId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(CalendarSyncJobs::CalendarId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CalendarSyncJobs::Generation)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(CalendarSyncJobs::Status).text().not_null())
                    .col(
                        ColumnDef::new(CalendarSyncJobs::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CalendarSyncJobs::RunAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CalendarSyncJobs::LockedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(CalendarSyncJobs::LastError).text().null())
                    .col(
                        ColumnDef::new(CalendarSyncJobs::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CalendarSyncJobs::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .check(Check::named(
                        "calendar_sync_jobs_status_check",
                        Expr::col(CalendarSyncJobs::Status).is_in(["pending", "failed"]),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("calendar_sync_jobs_appointment_id_fkey")
                            .from(CalendarSyncJobs::Table, CalendarSyncJobs::AppointmentId)
                            .to(Appointments::Table, Appointments::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_JOBS_DUE)
                    .table(CalendarSyncJobs::Table)
                    .col(CalendarSyncJobs::Status)
                    .col(CalendarSyncJobs::RunAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_JOBS_CALENDAR)
                    .table(CalendarSyncJobs::Table)
                    .col(CalendarSyncJobs::CalendarId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CalendarSyncJobs::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OauthStates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(GoogleConnections::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Calendars {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum GoogleConnections {
    Table,
    CalendarId,
    GoogleCalendarId,
    Status,
    RefreshToken,
    KeyId,
    Scopes,
    ConnectedBy,
    ConnectedAt,
    UpdatedAt,
    LastSyncedAt,
    LastError,
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Digest,
    UserId,
    CalendarId,
    GoogleCalendarId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum CalendarSyncJobs {
    Table,
    Id,
    AppointmentId,
    CalendarId,
    Generation,
    Status,
    Attempts,
    RunAt,
    LockedUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
}
