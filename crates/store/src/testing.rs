//! Fresh databases for tests (feature `testing`).
//!
//! - [`TestDatabase::sqlite`]: a new SQLite file in a temporary directory.
//! - [`TestDatabase::postgres`]: a new, uniquely named database
//!   (`vs_test_<uuid>`) on the server in `TEST_DATABASE_URL`
//!   (default `postgres://postgres@127.0.0.1:5432/postgres`). When that server
//!   cannot be reached the test is skipped loudly, unless `REQUIRE_POSTGRES=1`,
//!   which turns the skip into an error (use it in CI).
//!
//! Call [`TestDatabase::drop_database`] at the end of a test. A value that is
//! dropped without it (a failed assertion) removes its database on a helper
//! thread, best effort.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

/// The PostgreSQL server tests use when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Set once the server was found unreachable, so the following tests of the
/// run skip at once instead of each waiting for a connection timeout.
static SERVER_UNREACHABLE: AtomicBool = AtomicBool::new(false);

/// Which backend a [`TestDatabase`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to give [`crate::Store::connect`].
    pub url: String,
    pub backend: TestBackend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// The temporary directory holding the SQLite file (removed when dropped).
    Sqlite {
        dir: Option<tempfile::TempDir>,
        file: PathBuf,
    },
    /// The server's maintenance URL and the database to drop there.
    Postgres {
        admin_url: String,
        name: String,
        dropped: bool,
    },
}

/// The write lock [`TestDatabase::hold_write_lock`] took.
pub struct WriteLock {
    db: DatabaseConnection,
}

impl WriteLock {
    /// Ends the lock's transaction (nothing was written) and disconnects.
    pub async fn release(self) -> anyhow::Result<()> {
        self.db
            .execute_unprepared("ROLLBACK")
            .await
            .context("could not release the write lock")?;
        self.db
            .close()
            .await
            .context("could not close the connection")
    }
}

impl TestDatabase {
    /// A fresh SQLite file in a temporary directory (kept alive by the value).
    pub async fn sqlite() -> anyhow::Result<TestDatabase> {
        let dir = tempfile::Builder::new()
            .prefix("vs-test-")
            .tempdir()
            .context("could not create a temporary directory")?;
        let file = dir.path().join("test.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Ok(TestDatabase {
            url,
            backend: TestBackend::Sqlite,
            cleanup: Cleanup::Sqlite {
                dir: Some(dir),
                file,
            },
        })
    }

    /// A fresh, uniquely named PostgreSQL database on the server in
    /// `TEST_DATABASE_URL`. `Ok(None)` (after a loud `SKIPPED` line on
    /// stderr) when the server is unreachable and `REQUIRE_POSTGRES` is not
    /// `1`; an error when it is.
    pub async fn postgres(test_name: &str) -> anyhow::Result<Option<TestDatabase>> {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.to_owned());
        let required = std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v.trim() == "1");
        let connected = if !required && SERVER_UNREACHABLE.load(Ordering::Relaxed) {
            Err(anyhow::anyhow!("unreachable earlier in this test run"))
        } else {
            admin_connection(&admin_url).await
        };
        let admin = match connected {
            Ok(admin) => admin,
            Err(e) if !required => {
                SERVER_UNREACHABLE.store(true, Ordering::Relaxed);
                // Straight to the process's stderr: the test harness captures
                // `eprintln!` of passing tests, and a skip must be seen.
                let line = format!(
                    "SKIPPED (PostgreSQL unreachable at {}): {test_name} [{e:#}]\n",
                    redact(&admin_url)
                );
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
                return Ok(None);
            }
            Err(e) => {
                return Err(e.context(format!(
                    "PostgreSQL is required (REQUIRE_POSTGRES=1) but unreachable at {}",
                    redact(&admin_url)
                )));
            }
        };
        let name = format!("vs_test_{}", Uuid::new_v4().simple());
        let created = admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("could not create the test database {name}"));
        close_quietly(admin).await;
        created?;
        let url = with_database(&admin_url, &name)?;
        Ok(Some(TestDatabase {
            url,
            backend: TestBackend::Postgres,
            cleanup: Cleanup::Postgres {
                admin_url,
                name,
                dropped: false,
            },
        }))
    }

    /// Runs raw SQL on this database (for tests that set up or damage state
    /// the application would not create itself).
    pub async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        let db = Database::connect(ConnectOptions::new(self.url.clone()))
            .await
            .context("could not connect to the test database")?;
        db.execute_unprepared(sql)
            .await
            .with_context(|| format!("could not run: {sql}"))?;
        db.close().await.context("could not close the connection")?;
        Ok(())
    }

    /// SQLite: takes the database's write lock from another connection (as a
    /// second process could) and holds it until [`WriteLock::release`]:
    /// writers wait out their busy timeout and fail; readers go on (WAL).
    pub async fn hold_write_lock(&self) -> anyhow::Result<WriteLock> {
        anyhow::ensure!(
            self.backend == TestBackend::Sqlite,
            "only SQLite has a database-wide write lock"
        );
        let mut options = ConnectOptions::new(self.url.clone());
        options.max_connections(1).min_connections(1);
        let db = Database::connect(options)
            .await
            .context("could not connect to the test database")?;
        db.execute_unprepared("BEGIN EXCLUSIVE")
            .await
            .context("could not take the write lock")?;
        Ok(WriteLock { db })
    }

    /// Drops the PostgreSQL database (`DROP DATABASE … WITH (FORCE)`) or
    /// deletes the SQLite file and its directory.
    pub async fn drop_database(mut self) -> anyhow::Result<()> {
        match &mut self.cleanup {
            Cleanup::Sqlite { dir, file } => {
                let file = file.clone();
                if let Some(dir) = dir.take() {
                    for suffix in ["", "-wal", "-shm"] {
                        let path = PathBuf::from(format!("{}{suffix}", file.display()));
                        match std::fs::remove_file(&path) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => {
                                return Err(e).with_context(|| {
                                    format!("could not delete {}", path.display())
                                });
                            }
                        }
                    }
                    dir.close()
                        .context("could not delete the temporary directory")?;
                }
                Ok(())
            }
            Cleanup::Postgres {
                admin_url,
                name,
                dropped,
            } => {
                drop_postgres(admin_url, name).await?;
                *dropped = true;
                Ok(())
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // SQLite: the TempDir (if still held) removes itself.
        let Cleanup::Postgres {
            admin_url,
            name,
            dropped: false,
        } = &self.cleanup
        else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Best effort, on a thread of its own: this may run while a runtime
        // is unwinding a failed test.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if let Err(e) = runtime.block_on(drop_postgres(&admin_url, &name)) {
                eprintln!("could not drop test database {name}: {e:#}");
            }
        });
        let _ = cleanup.join();
    }
}

async fn admin_connection(admin_url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .context("could not connect to the PostgreSQL server")
}

async fn drop_postgres(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin = admin_connection(admin_url).await?;
    let dropped = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .with_context(|| format!("could not drop the test database {name}"));
    close_quietly(admin).await;
    dropped.map(|_| ())
}

async fn close_quietly(db: DatabaseConnection) {
    if let Err(e) = db.close().await {
        eprintln!("could not close a test connection: {e}");
    }
}

/// `url` with its database (path) replaced by `database`; the query string is kept.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("not a database URL: {}", redact(url));
    };
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_start = scheme_end + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    Ok(format!("{}/{database}{query}", &base[..authority_end]))
}

/// `url` with any password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return "<not a URL>".to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!(
                "{}{masked}{}",
                &url[..scheme_end + 3],
                &url[scheme_end + 3 + at..]
            )
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() -> anyhow::Result<()> {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x")?,
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/app?sslmode=disable", "x")?,
            "postgres://u:p@db:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "x")?, "postgres://db/x");
        assert_eq!(
            with_database("postgresql://db?sslmode=require", "x")?,
            "postgresql://db/x?sslmode=require"
        );
        assert!(with_database("nonsense", "x").is_err());
        Ok(())
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@db:5432/app"),
            "postgres://u:***@db:5432/app"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(redact("postgres://db/app"), "postgres://db/app");
    }
}
