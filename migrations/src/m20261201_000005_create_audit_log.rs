//! `audit_log`: who did what, when, from where, with what outcome.
//! Append-only: the application inserts rows and never updates or deletes
//! them. `id` grows with every entry, so (`at`, `id`) is a stable order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_AT: &str = "audit_log_at_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(
                        ColumnDef::new(AuditLog::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditLog::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditLog::ActorKind).text().not_null())
                    .col(ColumnDef::new(AuditLog::ActorId).text().null())
                    .col(ColumnDef::new(AuditLog::Action).text().not_null())
                    .col(ColumnDef::new(AuditLog::Resource).text().null())
                    .col(ColumnDef::new(AuditLog::Outcome).text().not_null())
                    .col(ColumnDef::new(AuditLog::Address).text().null())
                    .col(ColumnDef::new(AuditLog::Detail).text().null())
                    .check(Check::named(
                        "audit_log_actor_kind_check",
                        Expr::col(AuditLog::ActorKind).is_in([
                            "user",
                            "anonymous",
                            "system",
                            "vapi_call",
                        ]),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_AT)
                    .table(AuditLog::Table)
                    .col(AuditLog::At)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorKind,
    ActorId,
    Action,
    Resource,
    Outcome,
    Address,
    Detail,
}
