//! PostgreSQL only: make overlapping active appointments impossible.
//!
//! Each appointment gets a generated `period` column, `[starts_at, blocked_until)`,
//! and an exclusion constraint refuses a second active (not cancelled)
//! appointment of the same calendar whose period overlaps (SQLSTATE `23P01`).
//! Half-open ranges let back-to-back appointments coexist.
//!
//! SQLite has no exclusion constraints: there the store runs the overlap check
//! and the write in one `BEGIN IMMEDIATE` transaction. This migration does
//! nothing on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS btree_gist")
            .await?;
        db.execute_unprepared(
            "ALTER TABLE appointments \
             ADD COLUMN period tstzrange \
             GENERATED ALWAYS AS (tstzrange(starts_at, blocked_until, '[)')) STORED",
        )
        .await?;
        db.execute_unprepared(
            "ALTER TABLE appointments \
             ADD CONSTRAINT appointments_no_overlap \
             EXCLUDE USING gist (calendar_id WITH =, period WITH &&) \
             WHERE (status <> 'cancelled')",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "ALTER TABLE appointments DROP CONSTRAINT IF EXISTS appointments_no_overlap",
        )
        .await?;
        db.execute_unprepared("ALTER TABLE appointments DROP COLUMN IF EXISTS period")
            .await?;
        // The btree_gist extension stays: it may have been installed before
        // (or be used by something else), and keeping it is harmless.
        Ok(())
    }
}
