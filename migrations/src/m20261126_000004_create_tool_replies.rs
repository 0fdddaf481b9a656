//! `tool_replies`: replies remembered by (scope, key), so a retried request
//! (the same VAPI tool-call id, the same `Idempotency-Key`) gets the first
//! answer again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ToolReplies::Table)
                    .col(ColumnDef::new(ToolReplies::Scope).text().not_null())
                    .col(ColumnDef::new(ToolReplies::Key).text().not_null())
                    .col(ColumnDef::new(ToolReplies::Fingerprint).text().not_null())
                    .col(ColumnDef::new(ToolReplies::Body).text().not_null())
                    .col(
                        ColumnDef::new(ToolReplies::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .name("tool_replies_pkey")
                            .col(ToolReplies::Scope)
                            .col(ToolReplies::Key),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ToolReplies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ToolReplies {
    Table,
    Scope,
    Key,
    Fingerprint,
    Body,
    CreatedAt,
}
