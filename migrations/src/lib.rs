//! Database migrations of voice-scheduler.
//!
//! One file per migration, named `mYYYYMMDD_HHMMSS_verb_noun.rs`, each with a
//! real `down`. Migrations are frozen snapshots of the schema: they never
//! import the store's entities, only identifiers declared here.
//!
//! The same migrations run on PostgreSQL (production) and SQLite (the embedded
//! default). What only PostgreSQL can do — the exclusion constraint that makes
//! overlapping bookings impossible — is raw SQL behind a backend check; so is what SQLite can only do another way
//! (the owner of a calendar is checked by triggers there, because SQLite cannot
//! drop a column that a foreign key uses).
//!
//! Timestamps: every `timestamptz` column is `TIMESTAMP WITH TIME ZONE` on
//! PostgreSQL and text on SQLite, where sqlx writes chrono `DateTime<Utc>` as
//! RFC 3339 (`2026-03-01T09:30:00+00:00`). The store truncates every value to
//! whole seconds before writing, so all stored texts have one fixed width and
//! compare lexicographically in time order.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_calendars;
mod m20261126_000002_create_appointments;
mod m20261126_000003_add_appointments_no_overlap;
mod m20261126_000004_create_tool_replies;
mod m20261201_000001_create_users;
mod m20261201_000002_create_sessions;
mod m20261201_000003_create_refresh_tokens;
mod m20261201_000004_create_login_failures;
mod m20261201_000005_create_audit_log;
mod m20261201_000006_add_calendars_settings;
mod m20261201_000007_create_calendar_routes;
mod m20261201_000008_add_appointments_listing_indexes;
mod m20261205_000001_create_calls;
mod m20261210_000001_create_google_sync;
mod m20261215_000001_add_calls_erased_at;
mod m20261216_000001_add_oauth_states_code_verifier;
mod m20261220_000001_add_calendars_closures;
mod m20261222_000001_create_webhooks;
mod m20261225_000001_create_services;

/// Every migration of the schema, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_calendars::Migration),
            Box::new(m20261126_000002_create_appointments::Migration),
            Box::new(m20261126_000003_add_appointments_no_overlap::Migration),
            Box::new(m20261126_000004_create_tool_replies::Migration),
            Box::new(m20261201_000001_create_users::Migration),
            Box::new(m20261201_000002_create_sessions::Migration),
            Box::new(m20261201_000003_create_refresh_tokens::Migration),
            Box::new(m20261201_000004_create_login_failures::Migration),
            Box::new(m20261201_000005_create_audit_log::Migration),
            Box::new(m20261201_000006_add_calendars_settings::Migration),
            Box::new(m20261201_000007_create_calendar_routes::Migration),
            Box::new(m20261201_000008_add_appointments_listing_indexes::Migration),
            Box::new(m20261205_000001_create_calls::Migration),
            Box::new(m20261210_000001_create_google_sync::Migration),
            Box::new(m20261215_000001_add_calls_erased_at::Migration),
            Box::new(m20261216_000001_add_oauth_states_code_verifier::Migration),
            Box::new(m20261220_000001_add_calendars_closures::Migration),
            Box::new(m20261222_000001_create_webhooks::Migration),
            Box::new(m20261225_000001_create_services::Migration),
        ]
    }
}
