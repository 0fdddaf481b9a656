//! `services`: the appointment types a calendar offers, and what an
//! appointment keeps of its service.
//!
//! - `services`: name (unique per calendar ignoring case: `name_key` is the
//!   lower-cased name), spoken description, length, buffers before and
//!   after, optional daily limit, and whether it is the calendar's default.
//!   Deleted with its calendar.
//! - `appointments.service_id` / `service_name`: the service booked (its
//!   name at booking time), `NULL` for appointments without one. No foreign
//!   key: an appointment keeps its service's id and name when the service
//!   is deleted.
//! - `appointments.blocked_from`: the start of the time an appointment
//!   holds, `starts_at` minus its service's buffer before (`starts_at` for
//!   the rows that exist: they had none). An appointment now holds
//!   `[blocked_from, blocked_until)`; on PostgreSQL the generated `period`
//!   column and the `appointments_no_overlap` exclusion constraint are
//!   rebuilt on that range, so the database refuses overlapping buffers on
//!   both sides. On SQLite the store's booking statement checks the same
//!   range inside the one writer's `BEGIN IMMEDIATE` transaction. A writer
//!   that does not know the column (an older instance during a rolling
//!   deploy, a hand-written insert) gets `blocked_from = starts_at` from a
//!   trigger on both backends, so its row is still held and still checked.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const IDX_NAME: &str = "services_calendar_name_key_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Services::Table)
                    .col(ColumnDef::new(Services::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Services::CalendarId).uuid().not_null())
                    .col(ColumnDef::new(Services::Name).text().not_null())
                    .col(ColumnDef::new(Services::NameKey).text().not_null())
                    .col(ColumnDef::new(Services::Description).text().null())
                    .col(
                        ColumnDef::new(Services::DurationMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Services::BufferBeforeMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Services::BufferAfterMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Services::DailyLimit).integer().null())
                    .col(ColumnDef::new(Services::IsDefault).boolean().not_null())
                    .col(
                        ColumnDef::new(Services::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("services_calendar_id_fkey")
                            .from(Services::Table, Services::CalendarId)
                            .to(Calendars::Table, Calendars::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .check(Check::named(
                        "services_duration_check",
                        Expr::col(Services::DurationMinutes).between(5, 480),
                    ))
                    .check(Check::named(
                        "services_buffer_before_check",
                        Expr::col(Services::BufferBeforeMinutes).between(0, 240),
                    ))
                    .check(Check::named(
                        "services_buffer_after_check",
                        Expr::col(Services::BufferAfterMinutes).between(0, 240),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDX_NAME)
                    .table(Services::Table)
                    .col(Services::CalendarId)
                    .col(Services::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for col in [
            ColumnDef::new(Appointments::ServiceId)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(Appointments::ServiceName)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Appointments::BlockedFrom)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Appointments::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared(r#"UPDATE "appointments" SET "blocked_from" = "starts_at""#)
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared(
                "CREATE TRIGGER appointments_blocked_from_default \
                 AFTER INSERT ON appointments FOR EACH ROW WHEN NEW.blocked_from IS NULL \
                 BEGIN UPDATE appointments SET blocked_from = NEW.starts_at WHERE id = NEW.id; END",
            )
            .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in [
                "CREATE FUNCTION appointments_blocked_from_default() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.blocked_from IS NULL THEN NEW.blocked_from := NEW.starts_at; END IF; \
                 RETURN NEW; END $$",
                "CREATE TRIGGER appointments_blocked_from_default BEFORE INSERT ON appointments \
                 FOR EACH ROW EXECUTE FUNCTION appointments_blocked_from_default()",
                "ALTER TABLE appointments ALTER COLUMN blocked_from SET NOT NULL",
                "ALTER TABLE appointments ADD CONSTRAINT appointments_blocked_from_check \
                 CHECK (blocked_from <= starts_at)",
                "ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap",
                "ALTER TABLE appointments DROP COLUMN period",
                "ALTER TABLE appointments \
                 ADD COLUMN period tstzrange \
                 GENERATED ALWAYS AS (tstzrange(blocked_from, blocked_until, '[)')) STORED",
                "ALTER TABLE appointments \
                 ADD CONSTRAINT appointments_no_overlap \
                 EXCLUDE USING gist (calendar_id WITH =, period WITH &&) \
                 WHERE (status <> 'cancelled')",
            ] {
                db.execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared("DROP TRIGGER IF EXISTS appointments_blocked_from_default")
                .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for sql in [
                "DROP TRIGGER IF EXISTS appointments_blocked_from_default ON appointments",
                "DROP FUNCTION IF EXISTS appointments_blocked_from_default()",
                "ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap",
                "ALTER TABLE appointments DROP COLUMN period",
                "ALTER TABLE appointments DROP CONSTRAINT appointments_blocked_from_check",
                "ALTER TABLE appointments \
                 ADD COLUMN period tstzrange \
                 GENERATED ALWAYS AS (tstzrange(starts_at, blocked_until, '[)')) STORED",
                "ALTER TABLE appointments \
                 ADD CONSTRAINT appointments_no_overlap \
                 EXCLUDE USING gist (calendar_id WITH =, period WITH &&) \
                 WHERE (status <> 'cancelled')",
            ] {
                db.execute_unprepared(sql).await?;
            }
        }
        for col in [
            Appointments::BlockedFrom,
            Appointments::ServiceName,
            Appointments::ServiceId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Appointments::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Services::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Calendars {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Appointments {
    Table,
    ServiceId,
    ServiceName,
    BlockedFrom,
}

#[derive(DeriveIden)]
enum Services {
    Table,
    Id,
    CalendarId,
    Name,
    NameKey,
    Description,
    DurationMinutes,
    BufferBeforeMinutes,
    BufferAfterMinutes,
    DailyLimit,
    IsDefault,
    CreatedAt,
}
