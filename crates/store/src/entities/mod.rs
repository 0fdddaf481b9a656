//! sea-orm entities of the store's tables: private to this crate.
//!
//! Generated from a migrated PostgreSQL database with sea-orm-cli 2.0, then
//! edited by hand in two places:
//!
//! ```sh
//! cargo install sea-orm-cli@2.0.4
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/voice_scheduler_codegen
//! createdb -h 127.0.0.1 -U postgres voice_scheduler_codegen
//! cargo run -p voice-scheduler-migrations -- -u "$DATABASE_URL" up
//! sea-orm-cli generate entity -u "$DATABASE_URL" \
//!     -o crates/store/src/entities --entity-format compact \
//!     --with-serde none --date-time-crate chrono --with-prelude all \
//!     --ignore-tables seaql_migrations
//! ```
//!
//! Hand edits after generating:
//! - `DateTimeWithTimeZone` → `DateTimeUtc` (every value we store is UTC; on
//!   SQLite it is written as RFC 3339 text with a `+00:00` offset).
//! - `appointments.period` removed: it is a PostgreSQL-only generated column
//!   (`tstzrange`) used by the exclusion constraint, never read or written.
//!
//! The entities of the tables added for staff accounts and calendar settings
//! (`users`, `sessions`, `refresh_tokens`, `login_failures`, `audit_log`,
//! `calendar_routes`, the new `calendars` columns, `calls`, `google_connections`,
//! `oauth_states`, `services`) were written by hand in
//! the same format, not generated; compare them with the generator's output
//! when it is next run.

pub mod prelude;

pub mod appointments;
pub mod audit_log;
pub mod calendar_routes;
pub mod calendars;
pub mod calls;
pub mod google_connections;
pub mod login_failures;
pub mod oauth_states;
pub mod refresh_tokens;
pub mod services;
pub mod sessions;
pub mod tool_replies;
pub mod users;
