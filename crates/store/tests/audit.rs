//! Reading the audit log (`AuditReader`: filters, newest-first keyset
//! pagination) and its retention purge (`Store::purge_audit`, the only
//! delete path), on SQLite and on PostgreSQL, each case on a fresh database.

#[macro_use]
mod support;

use anyhow::ensure;
use chrono::{DateTime, Duration, Utc};
use voice_scheduler_domain::UserId;
use voice_scheduler_domain::ports::{
    Actor, AuditEntry, AuditLog, AuditQuery, AuditReader, AuditRecord,
};

use support::*;

on_both_backends!(
    the_log_is_listed_newest_first_with_every_filter,
    pages_follow_each_other_without_gaps_or_repeats,
    purge_removes_only_entries_older_than_the_cutoff,
);

fn entry(
    at: DateTime<Utc>,
    actor: Actor,
    action: &'static str,
    resource: Option<&str>,
    outcome: &'static str,
) -> AuditEntry {
    AuditEntry {
        at,
        actor,
        action,
        resource: resource.map(str::to_owned),
        outcome,
        address: None,
        detail: Some(format!("{action} detail")),
    }
}

async fn record(ctx: &Ctx, entries: Vec<AuditEntry>) -> anyhow::Result<()> {
    for e in entries {
        AuditLog::record(&ctx.store, e).await?;
    }
    Ok(())
}

async fn list(ctx: &Ctx, query: AuditQuery) -> anyhow::Result<Vec<AuditRecord>> {
    AuditReader::list(&ctx.store, &query).await
}

fn all(limit: u64) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

fn actions(records: &[AuditRecord]) -> Vec<&str> {
    records.iter().map(|r| r.action.as_str()).collect()
}

async fn the_log_is_listed_newest_first_with_every_filter(ctx: Ctx) -> anyhow::Result<()> {
    let ann = UserId::new();
    let bob = UserId::new();
    let t = at(9, 0)?;
    record(
        &ctx,
        vec![
            entry(t, Actor::User(ann), "auth.login", None, "success"),
            entry(
                t + Duration::minutes(1),
                Actor::VapiCall("call-7".to_owned()),
                "appointment.book",
                Some("appointment:1"),
                "success",
            ),
            entry(
                t + Duration::minutes(2),
                Actor::User(bob),
                "calendar.update",
                Some("calendar:c1"),
                "denied",
            ),
            entry(
                t + Duration::minutes(3),
                Actor::User(ann),
                "appointment.cancel",
                Some("appointment:1"),
                "success",
            ),
            entry(
                t + Duration::minutes(4),
                Actor::Anonymous,
                "auth.login",
                None,
                "failure",
            ),
            // Recorded out of order: listed by time, not by insertion.
            entry(
                t - Duration::minutes(5),
                Actor::System,
                "audit.purge",
                None,
                "success",
            ),
        ],
    )
    .await?;

    let every = list(&ctx, all(100)).await?;
    assert_eq!(
        actions(&every),
        [
            "auth.login",
            "appointment.cancel",
            "calendar.update",
            "appointment.book",
            "auth.login",
            "audit.purge"
        ]
    );
    let first = &every[3];
    assert_eq!(first.at, t + Duration::minutes(1));
    assert_eq!(first.actor_kind, "vapi_call");
    assert_eq!(first.actor_id.as_deref(), Some("call-7"));
    assert_eq!(first.resource.as_deref(), Some("appointment:1"));
    assert_eq!(first.outcome, "success");
    assert_eq!(first.detail.as_deref(), Some("appointment.book detail"));
    assert_eq!(every[5].actor_kind, "system");
    assert_eq!(every[5].actor_id, None);

    let by_ann = list(
        &ctx,
        AuditQuery {
            actor_id: Some(ann.to_string()),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(actions(&by_ann), ["appointment.cancel", "auth.login"]);
    let logins = list(
        &ctx,
        AuditQuery {
            action: Some("auth.login".to_owned()),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(logins.len(), 2);
    let on_appointment = list(
        &ctx,
        AuditQuery {
            resource: Some("appointment:1".to_owned()),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(
        actions(&on_appointment),
        ["appointment.cancel", "appointment.book"]
    );
    let denied = list(
        &ctx,
        AuditQuery {
            outcome: Some("denied".to_owned()),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(actions(&denied), ["calendar.update"]);
    // `from` is inclusive, `to` exclusive; instants between seconds round up.
    let window = list(
        &ctx,
        AuditQuery {
            from: Some(t + Duration::minutes(1)),
            to: Some(t + Duration::minutes(3)),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(actions(&window), ["calendar.update", "appointment.book"]);
    let window = list(
        &ctx,
        AuditQuery {
            from: Some(t + Duration::minutes(1) - Duration::milliseconds(500)),
            to: Some(t + Duration::minutes(3) - Duration::milliseconds(500)),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(actions(&window), ["calendar.update", "appointment.book"]);
    // Filters combine.
    let combined = list(
        &ctx,
        AuditQuery {
            action: Some("auth.login".to_owned()),
            outcome: Some("success".to_owned()),
            from: Some(t - Duration::hours(1)),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0].actor_id, Some(ann.to_string()));
    assert!(
        list(
            &ctx,
            AuditQuery {
                action: Some("nothing.like.this".to_owned()),
                ..all(100)
            }
        )
        .await?
        .is_empty()
    );
    assert!(list(&ctx, all(0)).await?.is_empty());
    assert_eq!(list(&ctx, all(2)).await?.len(), 2);
    Ok(())
}

async fn pages_follow_each_other_without_gaps_or_repeats(ctx: Ctx) -> anyhow::Result<()> {
    let t = at(9, 0)?;
    // Several entries share a second (the clock's resolution is a second):
    // the id breaks the tie.
    let mut entries = Vec::new();
    for i in 0..11 {
        entries.push(entry(
            t + Duration::seconds(i / 3) + Duration::milliseconds(100 * i),
            Actor::System,
            "test.page",
            None,
            "success",
        ));
    }
    record(&ctx, entries).await?;
    let every = list(&ctx, all(100)).await?;
    assert_eq!(every.len(), 11);
    for pair in every.windows(2) {
        ensure!(
            (pair[0].at, pair[0].id) > (pair[1].at, pair[1].id),
            "not newest first: {pair:?}"
        );
    }
    for size in [1, 2, 3, 4, 11] {
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = list(
                &ctx,
                AuditQuery {
                    before,
                    ..all(size)
                },
            )
            .await?;
            seen.extend(page.iter().map(|r| r.id));
            match page.last() {
                Some(last) if page.len() as u64 == size => before = Some((last.at, last.id)),
                _ => break,
            }
            ensure!(seen.len() <= 11, "pages repeat");
        }
        assert_eq!(
            seen,
            every.iter().map(|r| r.id).collect::<Vec<_>>(),
            "page size {size}"
        );
    }
    // A cursor between seconds: every entry of earlier seconds follows it.
    let cursor = list(
        &ctx,
        AuditQuery {
            before: Some((t + Duration::seconds(2) + Duration::milliseconds(1), 0)),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(cursor.len(), 9, "{cursor:?}");
    // Filters apply to later pages too.
    let filtered = list(
        &ctx,
        AuditQuery {
            before: Some((every[1].at, every[1].id)),
            action: Some("test.page".to_owned()),
            ..all(100)
        },
    )
    .await?;
    assert_eq!(filtered.len(), 9);
    assert_eq!(filtered[0].id, every[2].id);
    Ok(())
}

async fn purge_removes_only_entries_older_than_the_cutoff(ctx: Ctx) -> anyhow::Result<()> {
    let t = at(9, 0)?;
    record(
        &ctx,
        vec![
            entry(
                t - Duration::days(400),
                Actor::System,
                "old.a",
                None,
                "success",
            ),
            entry(
                t - Duration::days(2),
                Actor::System,
                "old.b",
                None,
                "success",
            ),
            entry(
                t - Duration::seconds(1),
                Actor::System,
                "old.c",
                None,
                "success",
            ),
            entry(t, Actor::System, "kept.a", None, "success"),
            entry(
                t + Duration::days(1),
                Actor::System,
                "kept.b",
                None,
                "success",
            ),
        ],
    )
    .await?;
    assert_eq!(ctx.store.purge_audit(t).await?, 3);
    assert_eq!(actions(&list(&ctx, all(100)).await?), ["kept.b", "kept.a"]);
    // Nothing more to do: nothing removed.
    assert_eq!(ctx.store.purge_audit(t).await?, 0);
    assert_eq!(count(&ctx, "SELECT COUNT(*) AS n FROM audit_log").await?, 2);
    // New entries are still recorded after a purge.
    record(
        &ctx,
        vec![entry(
            t + Duration::days(2),
            Actor::System,
            "kept.c",
            None,
            "success",
        )],
    )
    .await?;
    assert_eq!(
        ctx.store.purge_audit(t + Duration::days(1)).await?,
        1,
        "only kept.a is older"
    );
    assert_eq!(actions(&list(&ctx, all(100)).await?), ["kept.c", "kept.b"]);
    Ok(())
}
