//! Sealed refresh tokens in a real (SQLite) store: unreadable as stored,
//! bound to their calendar (two rows' ciphertexts swapped do not open),
//! and re-sealed with a new key by `reseal_all` (the `google rotate-keys`
//! command).

use chrono::{TimeZone, Utc};
use voice_scheduler_domain::ports::CalendarRepository;
use voice_scheduler_domain::schedule::ScheduleSettings;
use voice_scheduler_domain::sync::{Connection, ConnectionRepository, ConnectionStatus};
use voice_scheduler_domain::{
    Calendar, CalendarId, Schedule, Slug, TimeZoneId, VapiRoutes, WeeklyHours,
};
use voice_scheduler_google::{KeyRing, key_id_hex, reseal_all, seal_token, token_binding};
use voice_scheduler_store::Store;
use voice_scheduler_store::testing::TestDatabase;

fn calendar(slug: &str) -> anyhow::Result<Calendar> {
    Ok(Calendar {
        id: CalendarId::new(),
        slug: Slug::parse(slug)?,
        name: slug.to_owned(),
        schedule: Schedule::new(ScheduleSettings {
            time_zone: TimeZoneId::parse("UTC")?,
            hours: WeeklyHours::parse("mon-fri 09:00-17:00")?,
            slot_minutes: 30,
            default_duration_minutes: 30,
            min_notice_minutes: 0,
            horizon_days: 60,
            buffer_minutes: 0,
        })?,
        owner: None,
        routes: VapiRoutes::default(),
        created_at: Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| anyhow::anyhow!("time"))?,
    })
}

async fn connect(
    store: &Store,
    keys: &KeyRing,
    slug: &str,
    token: &str,
) -> anyhow::Result<CalendarId> {
    let cal = calendar(slug)?;
    CalendarRepository::create(store, &cal).await?;
    let now = Utc::now();
    store
        .save_connection(&Connection {
            calendar_id: cal.id,
            google_calendar_id: "primary".to_owned(),
            status: ConnectionStatus::Connected,
            refresh_token: seal_token(keys, cal.id, token),
            scopes: None,
            connected_by: None,
            connected_at: now,
            updated_at: now,
            last_synced_at: None,
            last_error: None,
        })
        .await?;
    Ok(cal.id)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn tokens_are_sealed_bound_to_their_calendar_and_rotated() -> anyhow::Result<()> {
    let db = TestDatabase::sqlite().await?;
    let store = Store::connect(&db.url).await?;
    store.migrate().await?;
    let old = KeyRing::new([7; 32], Vec::new());
    let a = connect(&store, &old, "a", "1//refresh-token-of-a").await?;
    let b = connect(&store, &old, "b", "1//refresh-token-of-b").await?;

    let stored_a = store
        .connection(a)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a"))?;
    let stored_b = store
        .connection(b)
        .await?
        .ok_or_else(|| anyhow::anyhow!("b"))?;
    anyhow::ensure!(!contains(
        &stored_a.refresh_token.bytes,
        b"refresh-token-of-a"
    ));
    anyhow::ensure!(stored_a.refresh_token.key_id == key_id_hex(old.current_key_id()));
    // Each opens for its own calendar, and not for the other's.
    let opened = old.open(&stored_a.refresh_token.bytes, &token_binding(a))?;
    anyhow::ensure!(opened.as_slice() == b"1//refresh-token-of-a");
    anyhow::ensure!(
        old.open(&stored_a.refresh_token.bytes, &token_binding(b))
            .is_err()
    );
    anyhow::ensure!(
        old.open(&stored_b.refresh_token.bytes, &token_binding(a))
            .is_err()
    );

    // Rotation: the new key is current, the old one kept for reading.
    let rotated = KeyRing::new([9; 32], vec![[7; 32]]);
    let (resealed, current, failed) = reseal_all(&rotated, &store).await?;
    anyhow::ensure!(
        (resealed, current, failed) == (2, 0, 0),
        "{resealed} {current} {failed}"
    );
    let (resealed, current, failed) = reseal_all(&rotated, &store).await?;
    anyhow::ensure!(
        (resealed, current, failed) == (0, 2, 0),
        "second run changes nothing"
    );
    let new_only = KeyRing::new([9; 32], Vec::new());
    let now_a = store
        .connection(a)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a"))?;
    anyhow::ensure!(now_a.refresh_token.key_id == key_id_hex(new_only.current_key_id()));
    anyhow::ensure!(
        new_only
            .open(&now_a.refresh_token.bytes, &token_binding(a))?
            .as_slice()
            == b"1//refresh-token-of-a"
    );
    // Without the key that sealed them, rows are reported, not lost.
    let unrelated = KeyRing::new([1; 32], Vec::new());
    let (_, _, failed) = reseal_all(&unrelated, &store).await?;
    anyhow::ensure!(failed == 2);
    store.close().await?;
    db.drop_database().await?;
    Ok(())
}
