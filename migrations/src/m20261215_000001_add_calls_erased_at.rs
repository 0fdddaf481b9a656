//! `calls.erased_at`: when the caller's personal data was erased from the
//! call (`erase_caller`), `NULL` otherwise. An erased call takes no
//! personal fact from a later message: a status update or an end-of-call
//! report that arrives after the erasure cannot bring the caller's number,
//! the summary, the transcript or the recording back.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .add_column(
                        ColumnDef::new(Calls::ErasedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .drop_column(Calls::ErasedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Calls {
    Table,
    ErasedAt,
}
