//! Signed webhooks: registered endpoints and the delivery outbox.
//!
//! - `webhook_endpoints`: the URL, the events subscribed to (a bit mask, so
//!   the booking statement matches endpoints with one `&`), an optional
//!   calendar scope (deleted with the calendar), and the signing secret
//!   sealed with `ENCRYPTION_KEY` when set (`key_id` says which key, or
//!   `plain`).
//! - `webhook_deliveries`: one row per (event, endpoint), written in the
//!   same transaction as the change that caused the event; claimed by
//!   workers with a lease (`locked_until`), retried with backoff until
//!   `queued_at` plus a day, then `failed`. Delivered rows stay as the
//!   endpoint's delivery log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_DUE: &str = "webhook_deliveries_status_run_at_idx";
const IDX_ENDPOINT: &str = "webhook_deliveries_endpoint_id_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(
                        ColumnDef::new(WebhookEndpoints::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(WebhookEndpoints::Url).text().not_null())
                    .col(
                        ColumnDef::new(WebhookEndpoints::EventMask)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookEndpoints::CalendarId).uuid().null())
                    .col(ColumnDef::new(WebhookEndpoints::Description).text().null())
                    .col(ColumnDef::new(WebhookEndpoints::Secret).blob().not_null())
                    .col(ColumnDef::new(WebhookEndpoints::KeyId).text().not_null())
                    .col(ColumnDef::new(WebhookEndpoints::CreatedBy).uuid().null())
                    .col(
                        ColumnDef::new(WebhookEndpoints::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("webhook_endpoints_calendar_id_fkey")
                            .from(WebhookEndpoints::Table, WebhookEndpoints::CalendarId)
                            .to(Calendars::Table, Calendars::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("webhook_endpoints_created_by_fkey")
                            .from(WebhookEndpoints::Table, WebhookEndpoints::CreatedBy)
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
                    .table(WebhookDeliveries::Table)
                    .col(
                        ColumnDef::new(WebhookDeliveries::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::EndpointId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::EventId).uuid().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::Event).text().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::Data).text().not_null())
                    .col(
                        ColumnDef::new(WebhookDeliveries::EventCreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::Status).text().not_null())
                    .col(
                        ColumnDef::new(WebhookDeliveries::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::RunAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::LockedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::QueuedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::LastStatus)
                            .integer()
                            .null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::LastError).text().null())
                    .col(
                        ColumnDef::new(WebhookDeliveries::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::DeliveredAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .check(Check::named(
                        "webhook_deliveries_status_check",
                        Expr::col(WebhookDeliveries::Status).is_in([
                            "pending",
                            "delivered",
                            "failed",
                        ]),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("webhook_deliveries_endpoint_id_fkey")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_endpoint_event_key")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_DUE)
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::RunAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_ENDPOINT)
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
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
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    EventMask,
    CalendarId,
    Description,
    Secret,
    KeyId,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    EventId,
    Event,
    Data,
    EventCreatedAt,
    Status,
    Attempts,
    RunAt,
    LockedUntil,
    QueuedAt,
    LastStatus,
    LastError,
    UpdatedAt,
    DeliveredAt,
}
