//! `calendars` gets its owner and its schedule.
//!
//! - `owner_id`: the user the calendar belongs to, `NULL` until someone
//!   adopts it; when the user is deleted the calendar becomes unowned.
//!   PostgreSQL: a foreign key (`ON DELETE SET NULL`). SQLite cannot drop a
//!   column that a foreign key uses (so `down` could not undo it), so there
//!   three triggers do the foreign key's work: inserting or updating a
//!   calendar with an owner that is not a user aborts with
//!   `FOREIGN KEY constraint failed`, and deleting a user unowns its
//!   calendars.
//! - The schedule: `working_hours` (the `BUSINESS_HOURS` format, as
//!   `WeeklyHours` writes it) and its numbers, with defaults that keep
//!   existing rows valid.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_OWNER: &str = "calendars_owner_id_idx";

const SQLITE_TRIGGERS: [(&str, &str); 3] = [
    (
        "calendars_owner_id_insert_fkey",
        "CREATE TRIGGER calendars_owner_id_insert_fkey BEFORE INSERT ON calendars \
         WHEN NEW.owner_id IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = NEW.owner_id) \
         BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: calendars.owner_id'); END",
    ),
    (
        "calendars_owner_id_update_fkey",
        "CREATE TRIGGER calendars_owner_id_update_fkey BEFORE UPDATE OF owner_id ON calendars \
         WHEN NEW.owner_id IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = NEW.owner_id) \
         BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: calendars.owner_id'); END",
    ),
    (
        "users_delete_unowns_calendars",
        "CREATE TRIGGER users_delete_unowns_calendars AFTER DELETE ON users \
         BEGIN UPDATE calendars SET owner_id = NULL WHERE owner_id = OLD.id; END",
    ),
];

/// The settings columns with their defaults (the schedule every calendar
/// had before they existed).
fn settings() -> Vec<ColumnDef> {
    let int = |col: Calendars, default: i32| {
        ColumnDef::new(col)
            .integer()
            .not_null()
            .default(default)
            .to_owned()
    };
    vec![
        ColumnDef::new(Calendars::WorkingHours)
            .text()
            .not_null()
            .default("mon-fri 09:00-17:00")
            .to_owned(),
        int(Calendars::SlotMinutes, 30),
        int(Calendars::DefaultDurationMinutes, 30),
        int(Calendars::MinNoticeMinutes, 60),
        int(Calendars::HorizonDays, 60),
        int(Calendars::BufferMinutes, 0),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE calendars ADD COLUMN owner_id uuid NULL \
                     CONSTRAINT calendars_owner_id_fkey REFERENCES users (id) \
                     ON DELETE SET NULL ON UPDATE RESTRICT",
                )
                .await?;
            }
            _ => {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Calendars::Table)
                            .add_column(ColumnDef::new(Calendars::OwnerId).uuid().null())
                            .to_owned(),
                    )
                    .await?;
                for (_, sql) in SQLITE_TRIGGERS {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        // One column per statement: SQLite alters one thing at a time.
        for column in settings() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Calendars::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(IDX_OWNER)
                    .table(Calendars::Table)
                    .col(Calendars::OwnerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            for (name, _) in SQLITE_TRIGGERS {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}"))
                    .await?;
            }
        }
        manager
            .drop_index(
                Index::drop()
                    .name(IDX_OWNER)
                    .table(Calendars::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Calendars::OwnerId,
            Calendars::WorkingHours,
            Calendars::SlotMinutes,
            Calendars::DefaultDurationMinutes,
            Calendars::MinNoticeMinutes,
            Calendars::HorizonDays,
            Calendars::BufferMinutes,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Calendars::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Calendars {
    Table,
    OwnerId,
    WorkingHours,
    SlotMinutes,
    DefaultDurationMinutes,
    MinNoticeMinutes,
    HorizonDays,
    BufferMinutes,
}
