//! `calendar_routes`: which VAPI assistants and phone numbers route calls to
//! which calendar. The primary key (`kind`, `external_id`) makes an id route
//! to at most one calendar; a calendar's routes go with it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_CALENDAR: &str = "calendar_routes_calendar_id_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CalendarRoutes::Table)
                    .col(ColumnDef::new(CalendarRoutes::Kind).text().not_null())
                    .col(ColumnDef::new(CalendarRoutes::ExternalId).text().not_null())
                    .col(ColumnDef::new(CalendarRoutes::CalendarId).uuid().not_null())
                    .primary_key(
                        Index::create()
                            .name("calendar_routes_pkey")
                            .col(CalendarRoutes::Kind)
                            .col(CalendarRoutes::ExternalId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("calendar_routes_calendar_id_fkey")
                            .from(CalendarRoutes::Table, CalendarRoutes::CalendarId)
                            .to(Calendars::Table, Calendars::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .check(Check::named(
                        "calendar_routes_kind_check",
                        Expr::col(CalendarRoutes::Kind).is_in(["assistant", "phone_number"]),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_CALENDAR)
                    .table(CalendarRoutes::Table)
                    .col(CalendarRoutes::CalendarId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CalendarRoutes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Calendars {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CalendarRoutes {
    Table,
    Kind,
    ExternalId,
    CalendarId,
}
