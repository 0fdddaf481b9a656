//! The ports of staff accounts — `UserRepository`, `SessionRepository`,
//! `LoginThrottle`, `AuditLog` — checked on SQLite and on PostgreSQL, each
//! case on a fresh database.
//!
//! PostgreSQL cases need a server at `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); without one they print
//! `SKIPPED (PostgreSQL unreachable ...)` and pass, unless `REQUIRE_POSTGRES=1`.

#[macro_use]
mod support;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Duration, Utc};
use voice_scheduler_domain::ports::{
    Actor, AuditEntry, AuditLog, LoginThrottle, RotateError, Session, SessionRepository,
    StoreUserError, UserRepository,
};
use voice_scheduler_domain::user::{PasswordHash, RefreshToken, TokenDigest};
use voice_scheduler_domain::{Email, Role, SessionId, User, UserId};
use voice_scheduler_store::Store;

use support::*;

on_both_backends!(
    user_round_trips,
    email_is_taken_ignoring_case,
    only_if_first_refuses_once_a_user_exists,
    concurrent_first_registrations_store_one,
    set_password_replaces_the_hash,
    rotation_issues_the_next_token,
    reused_token_ends_the_family,
    ended_expired_and_unknown_tokens_are_refused,
    concurrent_rotations_of_one_token_let_one_through,
    concurrent_rotations_across_stores_let_one_through,
    end_all_keeps_one_and_counts,
    prune_sessions_removes_families_over_before_the_cutoff,
    throttle_counts_failures_in_a_window,
    prune_login_failures_forgets_what_the_throttle_no_longer_counts,
    audit_entries_are_stored_as_given,
);

// ---------------------------------------------------------------- fixtures

fn sessions(ctx: &Ctx) -> &dyn SessionRepository {
    &ctx.store
}

fn throttle(ctx: &Ctx) -> &dyn LoginThrottle {
    &ctx.store
}

async fn add_user(ctx: &Ctx, email: &str, n: i64) -> anyhow::Result<User> {
    Ok(users(ctx)
        .create(new_user(email, Role::Staff, n)?, false)
        .await?)
}

fn digest() -> TokenDigest {
    RefreshToken::generate().digest()
}

/// A session of `user` that started at `start` and lasts a week.
fn session(user: UserId, start: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::new(),
        user,
        created_at: start,
        expires_at: start + Duration::days(7),
        ended_at: None,
    }
}

/// Starts a session of `user` at `start`; answers it and its first token.
async fn signed_in(
    ctx: &Ctx,
    user: UserId,
    start: DateTime<Utc>,
) -> anyhow::Result<(Session, TokenDigest)> {
    let s = session(user, start);
    let first = digest();
    sessions(ctx).start(&s, &first).await?;
    Ok((s, first))
}

async fn tokens_of(ctx: &Ctx, s: &Session) -> anyhow::Result<i64> {
    count(
        ctx,
        &format!(
            "SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id = {}",
            uuid_sql(ctx, s.id.as_uuid())
        ),
    )
    .await
}

// ---------------------------------------------------------------- users

async fn user_round_trips(ctx: Ctx) -> anyhow::Result<()> {
    let mut new = new_user("Ann.Lee@Example.com", Role::Admin, 0)?;
    new.created_at += Duration::milliseconds(300);
    let created = users(&ctx).create(new.clone(), false).await?;
    assert_eq!(created.id, new.id);
    // As given (the domain part of an address is lower-cased by `Email`).
    assert_eq!(created.email, new.email);
    assert_eq!(created.email.as_str(), "Ann.Lee@example.com");
    assert_eq!(created.name, new.name);
    assert_eq!(created.role, Role::Admin);
    assert_eq!(created.created_at, created_at(0)?);
    assert_eq!(users(&ctx).get(new.id).await?, Some(created.clone()));
    assert_eq!(users(&ctx).get(UserId::new()).await?, None);

    // Found by the address in any case; the hash comes with it.
    let (found, hash) = users(&ctx)
        .find_credentials(&Email::parse("ann.lee@EXAMPLE.com")?)
        .await?
        .context("not found")?;
    assert_eq!(found, created);
    assert_eq!(hash, new.password);
    assert!(
        users(&ctx)
            .find_credentials(&Email::parse("bob@example.com")?)
            .await?
            .is_none()
    );

    // Oldest first.
    let older = users(&ctx)
        .create(new_user("bob@example.com", Role::Staff, -5)?, false)
        .await?;
    let newer = add_user(&ctx, "carol@example.com", 5).await?;
    assert_eq!(users(&ctx).list().await?, vec![older, created, newer]);
    Ok(())
}

async fn email_is_taken_ignoring_case(ctx: Ctx) -> anyhow::Result<()> {
    add_user(&ctx, "Ann@Example.com", 0).await?;
    for email in ["Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM"] {
        match users(&ctx)
            .create(new_user(email, Role::Staff, 1)?, false)
            .await
        {
            Err(StoreUserError::EmailTaken) => {}
            other => bail!("{email}: expected EmailTaken, got {other:?}"),
        }
    }
    assert_eq!(users(&ctx).list().await?.len(), 1);
    Ok(())
}

async fn only_if_first_refuses_once_a_user_exists(ctx: Ctx) -> anyhow::Result<()> {
    let first = users(&ctx)
        .create(new_user("admin@example.com", Role::Admin, 0)?, true)
        .await?;
    match users(&ctx)
        .create(new_user("other@example.com", Role::Admin, 1)?, true)
        .await
    {
        Err(StoreUserError::NotFirst) => {}
        other => bail!("expected NotFirst, got {other:?}"),
    }
    assert_eq!(users(&ctx).list().await?, vec![first]);
    // Without the condition, more users can join.
    add_user(&ctx, "other@example.com", 1).await?;
    assert_eq!(users(&ctx).list().await?.len(), 2);
    Ok(())
}

async fn concurrent_first_registrations_store_one(ctx: Ctx) -> anyhow::Result<()> {
    for round in 0..3 {
        if round > 0 {
            support::query(&ctx, "DELETE FROM users").await?;
        }
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = ctx.store.clone();
            let new = new_user(&format!("admin{i}@example.com"), Role::Admin, i)?;
            tasks.push(tokio::spawn(async move {
                UserRepository::create(&store, new, true).await
            }));
        }
        let mut stored = Vec::new();
        for task in tasks {
            match task.await? {
                Ok(user) => stored.push(user),
                Err(StoreUserError::NotFirst) => {}
                Err(e) => bail!("round {round}: unexpected error {e:?}"),
            }
        }
        assert_eq!(stored.len(), 1, "round {round}: {stored:?}");
        assert_eq!(users(&ctx).list().await?, stored, "round {round}");
    }
    Ok(())
}

async fn set_password_replaces_the_hash(ctx: Ctx) -> anyhow::Result<()> {
    let user = add_user(&ctx, "ann@example.com", 0).await?;
    let email = Email::parse("ann@example.com")?;
    let changed_at = at(10, 0)? + Duration::milliseconds(900);
    let new_hash = PasswordHash("$2b$12$new".to_owned());
    assert!(
        users(&ctx)
            .set_password(user.id, new_hash.clone(), changed_at)
            .await?
    );
    let (_, hash) = users(&ctx)
        .find_credentials(&email)
        .await?
        .context("not found")?;
    assert_eq!(hash, new_hash);
    let rows = support::query(
        &ctx,
        "SELECT password_changed_at FROM users WHERE email_key = 'ann@example.com'",
    )
    .await?;
    let row = rows.first().context("no row")?;
    assert_eq!(
        row.try_get::<Option<DateTime<Utc>>>("", "password_changed_at")?,
        Some(at(10, 0)?)
    );
    assert!(
        !users(&ctx)
            .set_password(UserId::new(), PasswordHash("x".to_owned()), changed_at)
            .await?
    );
    Ok(())
}

// ---------------------------------------------------------------- sessions

async fn rotation_issues_the_next_token(ctx: Ctx) -> anyhow::Result<()> {
    let user = add_user(&ctx, "ann@example.com", 0).await?;
    let start = at(9, 0)?;
    let (s, first) = signed_in(&ctx, user.id, start).await?;
    assert_eq!(sessions(&ctx).get(s.id).await?, Some(s.clone()));
    assert_eq!(sessions(&ctx).find_by_token(&first).await?, Some(s.clone()));
    assert_eq!(sessions(&ctx).find_by_token(&digest()).await?, None);
    assert_eq!(sessions(&ctx).get(SessionId::new()).await?, None);

    let second = digest();
    let rotated = sessions(&ctx)
        .rotate(&first, &second, start + Duration::hours(1))
        .await?;
    assert_eq!(rotated, s);
    let third = digest();
    let rotated = sessions(&ctx)
        .rotate(&second, &third, start + Duration::hours(2))
        .await?;
    assert_eq!(rotated, s);
    // Used tokens still name their family.
    assert_eq!(sessions(&ctx).find_by_token(&first).await?, Some(s.clone()));
    assert_eq!(sessions(&ctx).find_by_token(&third).await?, Some(s.clone()));
    assert_eq!(tokens_of(&ctx, &s).await?, 3);
    let used = count(
        &ctx,
        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL",
    )
    .await?;
    assert_eq!(used, 2);
    Ok(())
}

async fn reused_token_ends_the_family(ctx: Ctx) -> anyhow::Result<()> {
    let user = add_user(&ctx, "ann@example.com", 0).await?;
    let start = at(9, 0)?;
    let (s, first) = signed_in(&ctx, user.id, start).await?;
    let (other, other_token) = signed_in(&ctx, user.id, start).await?;
    let second = digest();
    sessions(&ctx)
        .rotate(&first, &second, start + Duration::hours(1))
        .await?;

    let reuse_at = start + Duration::hours(2) + Duration::milliseconds(400);
    match sessions(&ctx).rotate(&first, &digest(), reuse_at).await {
        Err(RotateError::Reused(ended)) => {
            assert_eq!(ended.id, s.id);
            assert_eq!(ended.ended_at, Some(start + Duration::hours(2)));
        }
        other => bail!("expected Reused, got {other:?}"),
    }
    let stored = sessions(&ctx).get(s.id).await?.context("gone")?;
    assert_eq!(stored.ended_at, Some(start + Duration::hours(2)));
    // The token the thief or the owner holds is dead too.
    match sessions(&ctx)
        .rotate(&second, &digest(), start + Duration::hours(3))
        .await
    {
        Err(RotateError::Ended(ended)) => assert_eq!(ended, stored),
        other => bail!("expected Ended, got {other:?}"),
    }
    // Reusing again keeps the first end.
    match sessions(&ctx)
        .rotate(&first, &digest(), start + Duration::hours(4))
        .await
    {
        Err(RotateError::Reused(ended)) => assert_eq!(ended, stored),
        other => bail!("expected Reused, got {other:?}"),
    }
    // Other families of the user are untouched.
    sessions(&ctx)
        .rotate(&other_token, &digest(), start + Duration::hours(5))
        .await?;
    assert_eq!(
        sessions(&ctx).get(other.id).await?.and_then(|o| o.ended_at),
        None
    );
    Ok(())
}

async fn ended_expired_and_unknown_tokens_are_refused(ctx: Ctx) -> anyhow::Result<()> {
    let user = add_user(&ctx, "ann@example.com", 0).await?;
    let start = at(9, 0)?;

    // Logged out: ended; `end` is idempotent and keeps the first time.
    let (s, token) = signed_in(&ctx, user.id, start).await?;
    sessions(&ctx).end(s.id, start + Duration::hours(1)).await?;
    sessions(&ctx).end(s.id, start + Duration::hours(2)).await?;
    sessions(&ctx).end(SessionId::new(), start).await?;
    let ended = sessions(&ctx).get(s.id).await?.context("gone")?;
    assert_eq!(ended.ended_at, Some(start + Duration::hours(1)));
    match sessions(&ctx)
        .rotate(&token, &digest(), start + Duration::hours(3))
        .await
    {
        Err(RotateError::Ended(e)) => assert_eq!(e, ended),
        other => bail!("expected Ended, got {other:?}"),
    }

    // Expired: refused at its end, accepted a second before.
    let (s, token) = signed_in(&ctx, user.id, start).await?;
    match sessions(&ctx).rotate(&token, &digest(), s.expires_at).await {
        Err(RotateError::Ended(e)) => {
            assert_eq!(e.id, s.id);
            assert_eq!(e.ended_at, None);
        }
        other => bail!("expected Ended, got {other:?}"),
    }
    let next = digest();
    sessions(&ctx)
        .rotate(&token, &next, s.expires_at - Duration::seconds(1))
        .await?;
    // Rotation never extends the family.
    match sessions(&ctx)
        .rotate(&next, &digest(), s.expires_at + Duration::seconds(1))
        .await
    {
        Err(RotateError::Ended(e)) => assert_eq!(e.expires_at, s.expires_at),
        other => bail!("expected Ended, got {other:?}"),
    }

    match sessions(&ctx).rotate(&digest(), &digest(), start).await {
        Err(RotateError::Unknown) => {}
        other => bail!("expected Unknown, got {other:?}"),
    }
    Ok(())
}

/// Rotates `token` from several tasks at once; answers how many succeeded,
/// were told of reuse, or were unknown.
async fn race_rotations(
    stores: &[Store],
    token: &TokenDigest,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize)> {
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = stores[i % stores.len()].clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            SessionRepository::rotate(&store, &token, &digest(), now).await
        }));
    }
    let (mut ok, mut reused) = (0, 0);
    for task in tasks {
        match task.await? {
            Ok(_) => ok += 1,
            Err(RotateError::Reused(s)) => {
                ensure!(s.ended_at.is_some(), "a reuse left the family live: {s:?}");
                reused += 1;
            }
            Err(e) => bail!("unexpected rotation outcome {e:?}"),
        }
    }
    Ok((ok, reused))
}

async fn check_concurrent_rotations(ctx: &Ctx, stores: &[Store]) -> anyhow::Result<()> {
    let user = add_user(ctx, "ann@example.com", 0).await?;
    let start = at(9, 0)?;
    for round in 0..15 {
        let (s, token) = signed_in(ctx, user.id, start).await?;
        let (ok, reused) = race_rotations(stores, &token, start + Duration::minutes(1)).await?;
        assert_eq!((ok, reused), (1, 3), "round {round}");
        // One next token was stored; the reuse ended the family.
        assert_eq!(tokens_of(ctx, &s).await?, 2, "round {round}");
        let stored = sessions(ctx).get(s.id).await?.context("gone")?;
        assert!(stored.ended_at.is_some(), "round {round}");
    }
    Ok(())
}

async fn concurrent_rotations_of_one_token_let_one_through(ctx: Ctx) -> anyhow::Result<()> {
    check_concurrent_rotations(&ctx, std::slice::from_ref(&ctx.store)).await
}

/// The same through two stores (two connection pools; on SQLite, two
/// write gates, so the database's own lock decides).
async fn concurrent_rotations_across_stores_let_one_through(ctx: Ctx) -> anyhow::Result<()> {
    let other = Store::connect(&ctx.url).await?;
    let result = check_concurrent_rotations(&ctx, &[ctx.store.clone(), other.clone()]).await;
    other.close().await?;
    result
}

async fn end_all_keeps_one_and_counts(ctx: Ctx) -> anyhow::Result<()> {
    let ann = add_user(&ctx, "ann@example.com", 0).await?;
    let bob = add_user(&ctx, "bob@example.com", 1).await?;
    let now = at(12, 0)?;
    let (s1, _) = signed_in(&ctx, ann.id, now - Duration::hours(3)).await?;
    let (s2, _) = signed_in(&ctx, ann.id, now - Duration::hours(2)).await?;
    let (s3, t3) = signed_in(&ctx, ann.id, now - Duration::hours(1)).await?;
    let (expired, _) = signed_in(&ctx, ann.id, now - Duration::days(8)).await?;
    let (ended, _) = signed_in(&ctx, ann.id, now - Duration::hours(1)).await?;
    sessions(&ctx)
        .end(ended.id, now - Duration::minutes(5))
        .await?;
    let (bobs, _) = signed_in(&ctx, bob.id, now - Duration::hours(1)).await?;

    assert_eq!(sessions(&ctx).end_all(ann.id, Some(s1.id), now).await?, 2);
    let ended_at = |s: Option<Session>| s.and_then(|s| s.ended_at);
    assert_eq!(ended_at(sessions(&ctx).get(s1.id).await?), None);
    assert_eq!(ended_at(sessions(&ctx).get(s2.id).await?), Some(now));
    assert_eq!(ended_at(sessions(&ctx).get(s3.id).await?), Some(now));
    assert_eq!(
        ended_at(sessions(&ctx).get(ended.id).await?),
        Some(now - Duration::minutes(5))
    );
    assert_eq!(ended_at(sessions(&ctx).get(expired.id).await?), None);
    assert_eq!(ended_at(sessions(&ctx).get(bobs.id).await?), None);
    match sessions(&ctx).rotate(&t3, &digest(), now).await {
        Err(RotateError::Ended(_)) => {}
        other => bail!("expected Ended, got {other:?}"),
    }

    assert_eq!(sessions(&ctx).end_all(ann.id, Some(s1.id), now).await?, 0);
    assert_eq!(sessions(&ctx).end_all(ann.id, None, now).await?, 1);
    assert_eq!(ended_at(sessions(&ctx).get(s1.id).await?), Some(now));
    assert_eq!(ended_at(sessions(&ctx).get(bobs.id).await?), None);
    Ok(())
}

/// Families that ended or expired before the cutoff go, with their tokens;
/// live ones and those over since the cutoff stay, with theirs.
async fn prune_sessions_removes_families_over_before_the_cutoff(ctx: Ctx) -> anyhow::Result<()> {
    let ann = add_user(&ctx, "ann@example.com", 0).await?;
    let now = at(12, 0)?;
    let cutoff = now - Duration::days(30);
    // Expired 33 days ago (started 40 days ago, a week long).
    let (expired_long_ago, _) = signed_in(&ctx, ann.id, now - Duration::days(40)).await?;
    // Ended 31 days ago, would have expired later.
    let (ended_long_ago, first) = signed_in(&ctx, ann.id, now - Duration::days(32)).await?;
    sessions(&ctx)
        .rotate(
            &first,
            &digest(),
            now - Duration::days(32) + Duration::hours(1),
        )
        .await?;
    sessions(&ctx)
        .end(ended_long_ago.id, now - Duration::days(31))
        .await?;
    // Expired 29 days ago; ended yesterday; live.
    let (expired_lately, _) = signed_in(&ctx, ann.id, now - Duration::days(36)).await?;
    let (ended_lately, _) = signed_in(&ctx, ann.id, now - Duration::days(2)).await?;
    sessions(&ctx)
        .end(ended_lately.id, now - Duration::days(1))
        .await?;
    let (live, _) = signed_in(&ctx, ann.id, now - Duration::hours(1)).await?;
    ensure!(tokens_of(&ctx, &ended_long_ago).await? == 2);

    assert_eq!(ctx.store.prune_sessions(cutoff).await?, 2);
    for gone in [&expired_long_ago, &ended_long_ago] {
        ensure!(
            sessions(&ctx).get(gone.id).await?.is_none(),
            "{:?} kept",
            gone.id
        );
        ensure!(
            tokens_of(&ctx, gone).await? == 0,
            "tokens of {:?} kept",
            gone.id
        );
    }
    for kept in [&expired_lately, &ended_lately, &live] {
        ensure!(
            sessions(&ctx).get(kept.id).await?.is_some(),
            "{:?} pruned",
            kept.id
        );
        ensure!(
            tokens_of(&ctx, kept).await? == 1,
            "tokens of {:?} pruned",
            kept.id
        );
    }
    assert_eq!(ctx.store.prune_sessions(cutoff).await?, 0);
    Ok(())
}

/// Failures older than a day go, whatever their key — also of keys that
/// never fail again (recording a failure forgets only its own key's old
/// ones); newer ones stay.
async fn prune_login_failures_forgets_what_the_throttle_no_longer_counts(
    ctx: Ctx,
) -> anyhow::Result<()> {
    let old_account = "account:ann@example.com".to_owned();
    let old_address = "ip:203.0.113.7".to_owned();
    let recent = "account:bob@example.com".to_owned();
    let now = at(12, 0)?;
    throttle(&ctx)
        .record_failure(
            &[old_account.clone(), old_address.clone()],
            now - Duration::days(3),
        )
        .await?;
    throttle(&ctx)
        .record_failure(
            std::slice::from_ref(&old_address),
            now - Duration::hours(25),
        )
        .await?;
    throttle(&ctx)
        .record_failure(std::slice::from_ref(&recent), now - Duration::hours(23))
        .await?;
    let long_ago = now - Duration::days(10);
    assert_eq!(
        throttle(&ctx)
            .failures_since(&old_account, long_ago)
            .await?
            .0,
        1
    );

    // The account's (3 days), the address's (25 hours; its 3-day-old one
    // went when it failed again).
    assert_eq!(ctx.store.prune_login_failures(now).await?, 2);
    for key in [&old_account, &old_address] {
        assert_eq!(
            throttle(&ctx).failures_since(key, long_ago).await?,
            (0, None),
            "{key}"
        );
    }
    assert_eq!(
        throttle(&ctx).failures_since(&recent, long_ago).await?,
        (1, Some(now - Duration::hours(23)))
    );
    assert_eq!(ctx.store.prune_login_failures(now).await?, 0);
    Ok(())
}

// ---------------------------------------------------------------- throttle and audit

async fn throttle_counts_failures_in_a_window(ctx: Ctx) -> anyhow::Result<()> {
    let account = "account:ann@example.com".to_owned();
    let address = "ip:203.0.113.7".to_owned();
    let t0 = at(9, 0)?;
    throttle(&ctx)
        .record_failure(&[account.clone(), address.clone()], t0)
        .await?;
    throttle(&ctx)
        .record_failure(std::slice::from_ref(&account), t0 + Duration::minutes(1))
        .await?;
    throttle(&ctx)
        .record_failure(std::slice::from_ref(&address), t0 + Duration::minutes(2))
        .await?;
    throttle(&ctx).record_failure(&[], t0).await?;

    assert_eq!(
        throttle(&ctx).failures_since(&account, t0).await?,
        (2, Some(t0))
    );
    assert_eq!(
        throttle(&ctx)
            .failures_since(&account, t0 + Duration::seconds(30))
            .await?,
        (1, Some(t0 + Duration::minutes(1)))
    );
    assert_eq!(
        throttle(&ctx)
            .failures_since(&address, t0 - Duration::hours(1))
            .await?,
        (2, Some(t0))
    );
    assert_eq!(
        throttle(&ctx).failures_since("ip:198.51.100.1", t0).await?,
        (0, None)
    );
    assert_eq!(
        throttle(&ctx)
            .failures_since(&account, t0 + Duration::minutes(5))
            .await?,
        (0, None)
    );

    // A failure two days later forgets that key's failures older than a day.
    let later = t0 + Duration::days(2);
    throttle(&ctx)
        .record_failure(std::slice::from_ref(&account), later)
        .await?;
    assert_eq!(
        count(
            &ctx,
            "SELECT COUNT(*) AS n FROM login_failures WHERE key = 'account:ann@example.com'"
        )
        .await?,
        1
    );
    assert_eq!(
        throttle(&ctx)
            .failures_since(&account, t0 - Duration::days(1))
            .await?,
        (1, Some(later))
    );
    // The address's failures are kept until it fails again.
    assert_eq!(
        throttle(&ctx).failures_since(&address, t0).await?,
        (2, Some(t0))
    );

    throttle(&ctx).clear(&account).await?;
    assert_eq!(
        throttle(&ctx).failures_since(&account, t0).await?,
        (0, None)
    );
    assert_eq!(throttle(&ctx).failures_since(&address, t0).await?.0, 2);
    Ok(())
}

async fn audit_entries_are_stored_as_given(ctx: Ctx) -> anyhow::Result<()> {
    let user = UserId::new();
    let t = at(9, 0)?;
    let entries = [
        AuditEntry {
            at: t + Duration::milliseconds(600),
            actor: Actor::User(user),
            action: "calendar.update",
            resource: Some("calendar:123".to_owned()),
            outcome: "success",
            address: Some("203.0.113.7".to_owned()),
            detail: Some("slug a\0b".to_owned()),
        },
        AuditEntry {
            at: t + Duration::minutes(1),
            actor: Actor::Anonymous,
            action: "auth.login",
            resource: None,
            outcome: "failure",
            address: None,
            detail: None,
        },
        AuditEntry {
            at: t + Duration::minutes(2),
            actor: Actor::System,
            action: "calendar.create",
            resource: None,
            outcome: "success",
            address: None,
            detail: None,
        },
        AuditEntry {
            at: t + Duration::minutes(3),
            actor: Actor::VapiCall("call-42".to_owned()),
            action: "appointment.book",
            resource: Some("appointment:9".to_owned()),
            outcome: "denied",
            address: None,
            detail: None,
        },
    ];
    for entry in entries.iter().cloned() {
        AuditLog::record(&ctx.store, entry).await?;
    }
    let rows = support::query(
        &ctx,
        "SELECT at, actor_kind, actor_id, action, resource, outcome, address, detail \
         FROM audit_log ORDER BY id",
    )
    .await?;
    let read = rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<DateTime<Utc>>("", "at")?,
                r.try_get::<String>("", "actor_kind")?,
                r.try_get::<Option<String>>("", "actor_id")?,
                r.try_get::<String>("", "action")?,
                r.try_get::<Option<String>>("", "resource")?,
                r.try_get::<String>("", "outcome")?,
                r.try_get::<Option<String>>("", "address")?,
                r.try_get::<Option<String>>("", "detail")?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        read,
        vec![
            (
                t,
                "user".to_owned(),
                Some(user.to_string()),
                "calendar.update".to_owned(),
                s("calendar:123"),
                "success".to_owned(),
                s("203.0.113.7"),
                s("slug a\u{fffd}b"),
            ),
            (
                t + Duration::minutes(1),
                "anonymous".to_owned(),
                None,
                "auth.login".to_owned(),
                None,
                "failure".to_owned(),
                None,
                None,
            ),
            (
                t + Duration::minutes(2),
                "system".to_owned(),
                None,
                "calendar.create".to_owned(),
                None,
                "success".to_owned(),
                None,
                None,
            ),
            (
                t + Duration::minutes(3),
                "vapi_call".to_owned(),
                s("call-42"),
                "appointment.book".to_owned(),
                s("appointment:9"),
                "denied".to_owned(),
                None,
                None,
            ),
        ]
    );
    Ok(())
}
