//! The audit trail: bookings (by voice and through the API), moves,
//! cancellations and calendar changes are recorded with the right actor and
//! no personal data; administrators read the log with filters and cursors;
//! old entries are purged (by the retention function the daily job runs,
//! and by `voice-scheduler audit purge`).

use std::process::Command;

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use voice_scheduler_domain::ports::{Actor, AuditEntry, AuditLog, AuditQuery, AuditReader, Clock};
use voice_scheduler_server::retention::{PrunedSignIns, prune_sign_ins, purge_audit};
use voice_scheduler_store::Store;

use crate::helpers::{ADMIN_PASSWORD, TestApp};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";
/// What the audit log must never show.
const VOICE_CALLER: &str = "+14155550177";
const VOICE_NAME: &str = "Zelda Quartermaine";
const API_CALLER: &str = "+14155550188";
const API_NAME: &str = "Yolanda Pemberton";
const API_EMAIL: &str = "yolanda.pemberton@example.com";

/// The administrator signs in with a wrong password (401).
async fn failed_sign_in(app: &TestApp) {
    let (status, body) = app
        .api(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "admin@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
}

/// Every entry matching `query` (a query string, without `?`), following
/// the cursors, newest first.
async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/audit?limit=200&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.api(Method::GET, &path, Some(token), None).await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// The entries of `action` on `resource`.
fn entries<'a>(all: &'a [Value], action: &str, resource: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| e["action"] == action && e["resource"] == resource)
        .collect()
}

fn one<'a>(all: &'a [Value], action: &str, resource: &str) -> &'a Value {
    let found = entries(all, action, resource);
    assert_eq!(found.len(), 1, "{action} on {resource} in {all:#?}");
    found[0]
}

async fn my_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.api(Method::GET, "/auth/me", Some(token), None).await;
    me["id"].as_str().unwrap().to_owned()
}

on_both_backends!(
    bookings_moves_cancellations_and_calendar_changes_are_audited_without_personal_data,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let admin_id = my_id(app, &admin).await;

        // By voice: book, move, cancel (call id `call-e2e`).
        let booked = app
            .tool_from(
                Some(VOICE_CALLER),
                "audit-book",
                "book_appointment",
                json!({"name": VOICE_NAME, "date": "2030-03-12", "time": "11:00", "email": "zelda@example.com"}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        let voice_id = booked["metadata"]["appointment_id"].as_str().unwrap();
        let code = booked["metadata"]["confirmation_code"].as_str().unwrap();
        let moved = app
            .tool_from(
                Some(VOICE_CALLER),
                "audit-move",
                "reschedule_appointment",
                json!({"confirmation_code": code, "new_date": "2030-03-12", "new_time": "13:00"}),
            )
            .await;
        assert_eq!(moved["metadata"]["status"], "rescheduled", "{moved}");
        let cancelled = app
            .tool_from(
                Some(VOICE_CALLER),
                "audit-cancel",
                "cancel_appointment",
                json!({"confirmation_code": code, "reason": "Zelda is travelling"}),
            )
            .await;
        assert_eq!(cancelled["metadata"]["status"], "cancelled", "{cancelled}");
        // A retried tool call changes nothing and records nothing more.
        app.tool_from(
            Some(VOICE_CALLER),
            "audit-book",
            "book_appointment",
            json!({"name": VOICE_NAME, "date": "2030-03-12", "time": "11:00", "email": "zelda@example.com"}),
        )
        .await;

        // Through the API: book, move, cancel.
        let (status, api_booking) = app
            .api(
                Method::POST,
                "/api/v1/appointments",
                Some(&admin),
                Some(&json!({
                    "calendar_id": DEFAULT_CALENDAR,
                    "start": "2030-03-04T10:00:00-08:00",
                    "customer_name": API_NAME,
                    "customer_phone": API_CALLER,
                    "customer_email": API_EMAIL,
                })),
            )
            .await;
        assert_eq!(status, 201, "{api_booking}");
        let api_id = api_booking["id"].as_str().unwrap();
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{api_id}/reschedule"),
                Some(&admin),
                Some(&json!({"start": "2030-03-04T11:30:00-08:00"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{api_id}/cancel"),
                Some(&admin),
                Some(&json!({"reason": "Yolanda called back"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");

        // A calendar named after a person: created, changed, deleted.
        let (status, calendar) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&admin),
                Some(&json!({"name": "Dr Quentin Blackwood", "time_zone": "Europe/London"})),
            )
            .await;
        assert_eq!(status, 201, "{calendar}");
        let cal = calendar["id"].as_str().unwrap();
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/calendars/{cal}"),
                Some(&admin),
                Some(&json!({"slot_minutes": 15, "name": "Dr Quentin Blackwood Jr"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app
            .api(
                Method::DELETE,
                &format!("/api/v1/calendars/{cal}"),
                Some(&admin),
                None,
            )
            .await;
        assert!(status.is_success(), "{status} {body}");

        let all = audit(app, &admin, "").await;
        let voice = format!("appointment:{voice_id}");
        for action in [
            "appointment.book",
            "appointment.reschedule",
            "appointment.cancel",
        ] {
            let e = one(&all, action, &voice);
            assert_eq!(e["actor_kind"], "vapi_call", "{e}");
            assert_eq!(e["actor_id"], "call-e2e", "{e}");
            assert_eq!(e["outcome"], "success", "{e}");
            assert!(
                e["detail"].as_str().unwrap().contains("+1******0177"),
                "the number is masked: {e}"
            );
        }
        assert!(
            one(&all, "appointment.book", &voice)["detail"]
                .as_str()
                .unwrap()
                .starts_with("voice booking"),
        );
        let api = format!("appointment:{api_id}");
        for action in [
            "appointment.book",
            "appointment.reschedule",
            "appointment.cancel",
        ] {
            let e = one(&all, action, &api);
            assert_eq!(e["actor_kind"], "user", "{e}");
            assert_eq!(e["actor_id"], admin_id.as_str(), "{e}");
            assert_eq!(e["address"], "127.0.0.1", "the client address: {e}");
        }
        let calendar = format!("calendar:{cal}");
        for action in ["calendar.create", "calendar.update", "calendar.delete"] {
            let e = one(&all, action, &calendar);
            assert_eq!(e["actor_kind"], "user", "{e}");
            assert_eq!(e["actor_id"], admin_id.as_str(), "{e}");
            assert_eq!(e["outcome"], "success", "{e}");
            assert_eq!(e["address"], "127.0.0.1", "the client address: {e}");
        }
        assert_eq!(
            one(&all, "calendar.update", &calendar)["detail"],
            "changed name, slot_minutes"
        );
        // Newest first: the calendar's deletion, then its change.
        assert_eq!(all[0]["action"], "calendar.delete");
        assert_eq!(all[1]["action"], "calendar.update");
        for e in &all {
            for field in [
                "id",
                "at",
                "actor_kind",
                "actor_id",
                "action",
                "resource",
                "outcome",
                "address",
                "detail",
            ] {
                assert!(e.get(field).is_some(), "{field} missing: {e}");
            }
        }

        // No full number, name, email address or reason anywhere in the log.
        let text = serde_json::to_string(&all).unwrap();
        for secret in [
            VOICE_CALLER,
            &VOICE_CALLER[1..],
            "5550177",
            "Zelda",
            "Quartermaine",
            "zelda@example.com",
            API_CALLER,
            &API_CALLER[1..],
            "Yolanda",
            "Pemberton",
            API_EMAIL,
            "Quentin",
            "Blackwood",
            "admin@example.com",
            "travelling",
            admin.as_str(),
        ] {
            assert!(
                !text.contains(secret),
                "'{secret}' is in the audit log: {text}"
            );
        }
    }
);

on_both_backends!(
    only_administrators_read_the_audit_log_and_bad_filters_are_named,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let staff = app.staff_token(&admin, "sam@example.com").await;
        let staff_id = my_id(app, &staff).await;
        let admin_id = my_id(app, &admin).await;
        let (status, body) = app
            .api(Method::GET, "/api/v1/audit", Some(&staff), None)
            .await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = app.api(Method::GET, "/api/v1/audit", None, None).await;
        assert_eq!(status, 401);

        // A staff member giving a calendar away is refused, and recorded.
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&staff),
                Some(&json!({"name": "Sam", "time_zone": "UTC", "owner_id": admin_id})),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        let denied = audit(app, &admin, "outcome=denied").await;
        assert_eq!(denied.len(), 1, "{denied:?}");
        assert_eq!(denied[0]["action"], "calendar.create");
        assert_eq!(denied[0]["actor_id"], staff_id.as_str());
        // The administrator creating the account is there too.
        let created = audit(app, &admin, &format!("resource=user:{staff_id}")).await;
        assert_eq!(created.len(), 1, "{created:?}");
        assert_eq!(created[0]["action"], "user.create");
        assert_eq!(created[0]["actor_id"], admin_id.as_str());
        assert_eq!(created[0]["detail"], "s***@example.com as staff");

        let (status, body) = app
            .api(
                Method::GET,
                "/api/v1/audit?limit=0&outcome=maybe&from=yesterday&to=2030-01-01T00:00:00Z&cursor=abc&action=",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let fields: Vec<&str> = body["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["action", "outcome", "from", "limit", "cursor"],
            "{body}"
        );
        let (status, body) = app
            .api(
                Method::GET,
                "/api/v1/audit?from=2030-03-02T00:00:00Z&to=2030-03-01T00:00:00Z&limit=201",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let fields: Vec<&str> = body["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["to", "limit"], "{body}");
    }
);

on_both_backends!(
    the_audit_log_pages_newest_first_and_filters,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let admin_id = my_id(app, &admin).await;
        for i in 0..5 {
            let (status, body) = app
                .api(
                    Method::POST,
                    "/api/v1/calendars",
                    Some(&admin),
                    Some(&json!({"name": format!("Room {i}"), "time_zone": "UTC"})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        app.clock.advance(Duration::minutes(10));
        failed_sign_in(app).await;

        let everything = audit(app, &admin, "").await;
        // user.create, auth.login, 5 × calendar.create, the failed sign-in.
        assert_eq!(everything.len(), 8, "{everything:#?}");
        assert_eq!(everything[0]["action"], "auth.login");
        assert_eq!(everything[0]["outcome"], "failure");
        assert_eq!(everything[0]["actor_kind"], "anonymous");
        // Entries of one second come newest (highest id) first.
        let ids: Vec<i64> = everything
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(ids, sorted);

        // Pages of two cover everything once, in the same order.
        let mut paged = Vec::new();
        let mut path = "/api/v1/audit?limit=2".to_owned();
        loop {
            let (status, page) = app.api(Method::GET, &path, Some(&admin), None).await;
            assert_eq!(status, 200, "{page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            paged.extend(items.iter().map(|e| e["id"].as_i64().unwrap()));
            match page["next_cursor"].as_str() {
                Some(next) => path = format!("/api/v1/audit?limit=2&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(paged, ids);

        // Filters, alone and together, also across pages.
        let created = audit(app, &admin, "action=calendar.create").await;
        assert_eq!(created.len(), 5);
        let (_, first_page) = app
            .api(
                Method::GET,
                &format!("/api/v1/audit?action=calendar.create&actor_id={admin_id}&limit=3"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(first_page["items"].as_array().unwrap().len(), 3);
        let next = first_page["next_cursor"].as_str().unwrap();
        let (_, second_page) = app
            .api(
                Method::GET,
                &format!(
                    "/api/v1/audit?action=calendar.create&actor_id={admin_id}&limit=3&cursor={next}"
                ),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(second_page["items"].as_array().unwrap().len(), 2);
        assert!(second_page["next_cursor"].is_null());
        assert_eq!(audit(app, &admin, "outcome=failure").await.len(), 1);
        assert_eq!(audit(app, &admin, "actor_id=someone-else").await.len(), 0);
        // The time window: the failed sign-in was 10 minutes later.
        let later = audit(app, &admin, "from=2030-03-01T17:20:00Z").await;
        assert_eq!(later.len(), 1);
        let earlier = audit(app, &admin, "to=2030-03-01T17:20:00%2B00:00").await;
        assert_eq!(earlier.len(), 7);
    }
);

on_both_backends!(
    entries_older_than_the_retention_period_are_purged,
    &[("AUDIT_RETENTION_DAYS", "30")],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let before = audit(app, &admin, "").await;
        assert_eq!(before.len(), 2, "{before:?}");

        // 31 days later: sign in again (the old token has expired).
        app.clock.advance(Duration::days(31));
        let admin = app.login("admin@example.com", ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let store = Store::connect(app.database_url()).await.unwrap();
        let clock: &dyn Clock = app.clock.as_ref();
        let done = purge_audit(&store, 30, clock, true).await.unwrap();
        assert_eq!(done.removed, 2);
        assert_eq!(done.before, clock.now() - Duration::days(30));
        let after = audit(app, &admin, "").await;
        let actions: Vec<&str> = after
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["audit.purge", "auth.login"], "{after:#?}");
        assert_eq!(after[0]["actor_kind"], "system");
        assert!(after[0]["actor_id"].is_null());
        assert!(
            after[0]["detail"]
                .as_str()
                .unwrap()
                .starts_with("removed 2 entries"),
            "{after:?}"
        );
        // Nothing more is old enough; the daily job records no empty purge.
        let again = purge_audit(&store, 30, clock, false).await.unwrap();
        assert_eq!(again.removed, 0);
        assert_eq!(audit(app, &admin, "").await.len(), 2);
        store.close().await.unwrap();
    }
);

on_both_backends!(
    sign_ins_over_for_thirty_days_and_old_failed_sign_ins_are_pruned,
    &[],
    async |app: &TestApp| {
        let _admin = app.admin_token().await;
        let old = app.login("admin@example.com", ADMIN_PASSWORD).await;
        let old_refresh = old["refresh_token"].as_str().unwrap().to_owned();
        failed_sign_in(app).await;
        let store = Store::connect(app.database_url()).await.unwrap();
        let clock: &dyn Clock = app.clock.as_ref();
        // Nothing is old enough yet.
        assert_eq!(
            prune_sign_ins(&store, clock).await.unwrap(),
            PrunedSignIns {
                sessions: 0,
                login_failures: 0
            }
        );

        // The two sign-ins expire after REFRESH_TOKEN_DAYS (30); 61 days on
        // they have been over for more than 30 days. A new sign-in is live.
        app.clock.advance(Duration::days(61));
        let fresh = app.login("admin@example.com", ADMIN_PASSWORD).await;
        let done = prune_sign_ins(&store, clock).await.unwrap();
        // The failure counted for the client address (the account's was
        // cleared by the next successful sign-in; the address's would stay
        // for good).
        assert_eq!(
            done,
            PrunedSignIns {
                sessions: 2,
                login_failures: 1
            }
        );
        let (status, _) = app
            .api(
                Method::POST,
                "/auth/refresh",
                None,
                Some(&json!({"refresh_token": old_refresh})),
            )
            .await;
        assert_eq!(status, 401, "a pruned sign-in's token");
        let (status, body) = app
            .api(
                Method::POST,
                "/auth/refresh",
                None,
                Some(&json!({"refresh_token": fresh["refresh_token"]})),
            )
            .await;
        assert_eq!(status, 200, "the live sign-in is kept: {body}");
        assert_eq!(
            prune_sign_ins(&store, clock).await.unwrap(),
            PrunedSignIns {
                sessions: 0,
                login_failures: 0
            }
        );
        store.close().await.unwrap();
    }
);

/// `voice-scheduler audit purge` on the embedded default: removes what is
/// older than AUDIT_RETENTION_DAYS, says how many, and records the purge.
#[tokio::test]
async fn audit_purge_from_the_command_line_reports_what_it_removed() {
    let dir = std::env::temp_dir().join(format!("vs-audit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("audit.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let now = Utc::now();
    for days in [400, 40, 1] {
        let entry = AuditEntry {
            at: now - Duration::days(days),
            actor: Actor::System,
            action: "test.entry",
            resource: None,
            outcome: "success",
            address: None,
            detail: Some(format!("{days} days old")),
        };
        AuditLog::record(&store, entry).await.unwrap();
    }
    store.close().await.unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_voice-scheduler"))
        .args(["audit", "purge"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "warn")
        .env("DATABASE_URL", &url)
        .env("AUDIT_RETENTION_DAYS", "30")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("removed 2 audit entries recorded before "),
        "{stdout}"
    );
    assert!(stdout.contains("AUDIT_RETENTION_DAYS=30"), "{stdout}");

    let store = Store::connect(&url).await.unwrap();
    let left = AuditReader::list(
        &store,
        &AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    let left: Vec<(&str, &str)> = left
        .iter()
        .map(|e| (e.action.as_str(), e.actor_kind.as_str()))
        .collect();
    assert_eq!(left, [("audit.purge", "system"), ("test.entry", "system")]);
    store.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
