//! `calendars.closures`: a calendar's closed dates, special hours and time
//! off, as one JSON text (`NULL`: none). They are read with the calendar's
//! row, so a booking costs no extra query, and replaced as a whole in one
//! statement. The shape (written and read by the store only):
//!
//! ```json
//! {"days": [{"date": "2030-12-25", "hours": [], "label": "Christmas Day"},
//!           {"date": "2030-12-24", "hours": ["09:00-12:00"], "label": null}],
//!  "time_off": [{"from": "2030-07-01T07:00:00Z", "to": "2030-07-15T07:00:00Z", "label": null}]}
//! ```

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Calendars::Table)
                    .add_column(ColumnDef::new(Calendars::Closures).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Calendars::Table)
                    .drop_column(Calendars::Closures)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Calendars {
    Table,
    Closures,
}
