//! The migration CLI: `voice-scheduler-migrations [up|down|status|fresh|refresh|reset]`.
//!
//! Reads the database URL from `DATABASE_URL` (or `-u`), for example
//! `DATABASE_URL=sqlite://voice-scheduler.db?mode=rwc voice-scheduler-migrations up`.

use sea_orm_migration::cli;
use voice_scheduler_migrations::Migrator;

#[tokio::main]
async fn main() {
    cli::run_cli(Migrator).await;
}
