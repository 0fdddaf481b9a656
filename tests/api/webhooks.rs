//! Signed webhooks, end to end: a local receiver on 127.0.0.1 (allowed by
//! `WEBHOOK_ALLOW_PRIVATE_TARGETS=true`), bookings by voice and through the
//! API, retries driven by the test clock, redelivery, two instances on one
//! PostgreSQL, SSRF refusals without the setting, tenancy and bad input.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{ADMIN_PASSWORD, Db, TestApp, fixture, spawn};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";
const ALLOW: &[(&str, &str)] = &[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")];
const WAIT: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    body: String,
    signature: String,
    event_id: String,
}

#[derive(Default)]
struct Seen {
    hits: Vec<Hit>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
}

/// A local webhook receiver.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Seen>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let seen = Arc::new(Mutex::new(Seen {
            hits: Vec::new(),
            fail_first,
        }));
        let state = seen.clone();
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().route(
                "/hook",
                web::post().to(move |request: HttpRequest, body: web::Bytes| {
                    let state = state.clone();
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let mut seen = state.lock().unwrap();
                        seen.hits.push(Hit {
                            body: String::from_utf8(body.to_vec()).unwrap(),
                            signature: header("webhook-signature"),
                            event_id: header("webhook-id"),
                        });
                        if seen.hits.len() <= seen.fail_first {
                            HttpResponse::InternalServerError().finish()
                        } else {
                            HttpResponse::Ok().finish()
                        }
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            seen,
            server: handle,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.seen.lock().unwrap().hits.clone()
    }

    /// Waits until the receiver got `count` requests (the clock does not move).
    async fn wait_for(&self, count: usize) -> Vec<Hit> {
        let deadline = Instant::now() + WAIT;
        loop {
            let hits = self.hits();
            if hits.len() >= count {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {count} deliveries, got {}",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether `count` requests arrive within `limit`.
    async fn got_within(&self, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.hits().len() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }
}

/// Checks `Webhook-Signature` over the body with `secret`, as a receiver does.
fn verify(secret: &str, hit: &Hit) -> Value {
    let (t, v1) = hit
        .signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature header: {:?}", hit.signature));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", hit.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "the signature verifies with the secret");
    let event: Value = serde_json::from_str(&hit.body).unwrap();
    assert_eq!(
        event["id"],
        hit.event_id.as_str(),
        "Webhook-Id is the event id"
    );
    event
}

/// The administrator signed in again (after the test clock moved past the
/// access token's lifetime).
async fn admin_again(app: &TestApp) -> String {
    app.login("admin@example.com", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn register(app: &TestApp, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
    app.api(Method::POST, "/api/v1/webhooks", Some(token), Some(&body))
        .await
}

/// Registers `url` for every event of every calendar; returns (id, secret).
async fn register_all(app: &TestApp, token: &str, url: &str) -> (String, String) {
    let (status, created) = register(
        app,
        token,
        json!({
            "url": url,
            "events": ["appointment.booked", "appointment.rescheduled", "appointment.cancelled", "call.ended", "reminder.answered"],
            "description": "CRM",
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    (created["id"].as_str().unwrap().to_owned(), secret)
}

async fn book_api(app: &TestApp, token: &str, start: &str) -> Value {
    let (status, booked) = app
        .api(
            Method::POST,
            "/api/v1/appointments",
            Some(token),
            Some(&json!({
                "calendar_id": DEFAULT_CALENDAR,
                "start": start,
                "customer_name": "Ann Lee",
                "customer_phone": "+14155550123",
            })),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    booked
}

async fn deliveries(app: &TestApp, token: &str, hook: &str) -> Vec<Value> {
    let (status, log) = app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{hook}/deliveries"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    log["items"].as_array().unwrap().clone()
}

on_both_backends!(
    bookings_moves_and_cancellations_are_delivered_once_and_signed,
    ALLOW,
    async |app: &TestApp| {
        let receiver = Receiver::start(0).await;
        let admin = app.admin_token().await;
        let (hook, secret) = register_all(app, &admin, &receiver.url).await;
        // The secret is shown once: never in a read.
        let (status, read) = app
            .api(
                Method::GET,
                &format!("/api/v1/webhooks/{hook}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{read}");
        assert!(read.get("secret").is_none(), "{read}");
        assert_eq!(read["calendar_id"], Value::Null);
        assert_eq!(read["events"].as_array().unwrap().len(), 5);

        // By voice.
        let booked = app
            .tool(
                "wh-book",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "11:00"}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        let hits = receiver.wait_for(1).await;
        let event = verify(&secret, &hits[0]);
        assert_eq!(event["type"], "appointment.booked");
        assert_eq!(
            event["data"]["appointment"]["id"],
            booked["metadata"]["appointment_id"]
        );
        assert_eq!(event["data"]["appointment"]["status"], "confirmed");
        assert_eq!(event["data"]["appointment"]["customer"]["name"], "Ray Chan");

        // Through the API, then moved and cancelled.
        let api = book_api(app, &admin, "2030-03-04T10:00:00-08:00").await;
        let id = api["id"].as_str().unwrap();
        let (status, _) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{id}/reschedule"),
                Some(&admin),
                Some(&json!({"start": "2030-03-04T11:00:00-08:00"})),
            )
            .await;
        assert_eq!(status, 200);
        let (status, _) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{id}/cancel"),
                Some(&admin),
                Some(&json!({"reason": "caller asked"})),
            )
            .await;
        assert_eq!(status, 200);
        let hits = receiver.wait_for(4).await;
        let events: Vec<Value> = hits.iter().map(|h| verify(&secret, h)).collect();
        let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        types.sort();
        assert_eq!(
            types,
            [
                "appointment.booked",
                "appointment.booked",
                "appointment.cancelled",
                "appointment.rescheduled"
            ]
        );
        for e in &events[1..] {
            assert_eq!(e["data"]["appointment"]["id"], id, "{e}");
        }
        let moved = events
            .iter()
            .find(|e| e["type"] == "appointment.rescheduled")
            .unwrap();
        assert_eq!(
            moved["data"]["appointment"]["starts_at"],
            "2030-03-04T19:00:00Z"
        );
        let cancelled = events
            .iter()
            .find(|e| e["type"] == "appointment.cancelled")
            .unwrap();
        assert_eq!(cancelled["data"]["appointment"]["status"], "cancelled");

        // Each exactly once, each with its own event id.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(receiver.hits().len(), 4);
        let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4);

        // The log.
        let log = deliveries(app, &admin, &hook).await;
        assert_eq!(log.len(), 4, "{log:?}");
        for d in &log {
            assert_eq!(d["status"], "delivered", "{d}");
            assert_eq!(d["attempts"], 1);
            assert_eq!(d["status_code"], 200);
            assert_eq!(d["last_error"], Value::Null);
        }

        // Redeliver the first: the same event id, once more.
        let first = log.last().unwrap();
        assert_eq!(first["event_id"], events[0]["id"]);
        let (status, queued) = app
            .api(
                Method::POST,
                &format!(
                    "/api/v1/webhooks/{hook}/deliveries/{}/redeliver",
                    first["id"]
                ),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 202, "{queued}");
        assert_eq!(queued["status"], "pending");
        let hits = receiver.wait_for(5).await;
        let again = verify(&secret, &hits[4]);
        assert_eq!(again["id"], events[0]["id"]);
        assert_eq!(again["data"], events[0]["data"]);
        // Unknown delivery → 404.
        let (status, _) = app
            .api(
                Method::POST,
                &format!("/api/v1/webhooks/{hook}/deliveries/999999/redeliver"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);

        // Deleted: no more deliveries.
        let (status, _) = app
            .api(
                Method::DELETE,
                &format!("/api/v1/webhooks/{hook}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 204);
        book_api(app, &admin, "2030-03-05T10:00:00-08:00").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(receiver.hits().len(), 5);
        let (status, _) = app
            .api(
                Method::GET,
                &format!("/api/v1/webhooks/{hook}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);
        receiver.stop().await;
    }
);

on_both_backends!(
    a_receiver_that_fails_three_times_gets_the_event_on_the_fourth_try_once,
    ALLOW,
    async |app: &TestApp| {
        let receiver = Receiver::start(3).await;
        let mut admin = app.admin_token().await;
        let (hook, secret) = register_all(app, &admin, &receiver.url).await;
        book_api(app, &admin, "2030-03-04T10:00:00-08:00").await;
        receiver.wait_for(1).await;
        for attempt in 1..=3 {
            if attempt > 1 {
                admin = admin_again(app).await;
            }
            // Failed: due again later on the test clock, not before.
            let log = deliveries(app, &admin, &hook).await;
            assert_eq!(log.len(), 1);
            assert_eq!(log[0]["status"], "pending", "{}", log[0]);
            assert_eq!(log[0]["attempts"], attempt);
            assert_eq!(log[0]["status_code"], 500);
            assert!(log[0]["next_attempt_at"].is_string());
            tokio::time::sleep(Duration::from_millis(1200)).await;
            assert_eq!(receiver.hits().len(), attempt, "no retry before it is due");
            // The backoff is at most an hour apart.
            app.clock.advance(chrono::Duration::minutes(61));
            receiver.wait_for(attempt + 1).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let hits = receiver.hits();
        assert_eq!(hits.len(), 4, "delivered on the fourth try, once");
        let admin = admin_again(app).await;
        let ids: Vec<String> = hits
            .iter()
            .map(|h| verify(&secret, h)["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "one event id: {ids:?}");
        let log = deliveries(app, &admin, &hook).await;
        assert_eq!(log[0]["status"], "delivered", "{}", log[0]);
        assert_eq!(log[0]["attempts"], 4);
        assert_eq!(log[0]["status_code"], 200);
        receiver.stop().await;
    }
);

on_both_backends!(
    a_delivery_failing_for_a_day_is_marked_failed_and_audited,
    ALLOW,
    async |app: &TestApp| {
        let receiver = Receiver::start(usize::MAX).await;
        let admin = app.admin_token().await;
        let (hook, _) = register_all(app, &admin, &receiver.url).await;
        book_api(app, &admin, "2030-03-20T10:00:00-07:00").await;
        let mut seen = 1;
        receiver.wait_for(seen).await;
        // Every hour on the test clock the next attempt is due, until a day
        // has passed since the booking: then no more.
        loop {
            app.clock.advance(chrono::Duration::minutes(61));
            if !receiver.got_within(seen + 1, Duration::from_secs(4)).await {
                break;
            }
            seen += 1;
            assert!(seen < 40, "never gave up");
        }
        assert!(seen >= 20, "retried for about a day: {seen} attempts");
        let admin = admin_again(app).await;
        let log = deliveries(app, &admin, &hook).await;
        assert_eq!(log[0]["status"], "failed", "{}", log[0]);
        assert_eq!(log[0]["attempts"], seen);
        assert_eq!(log[0]["status_code"], 500);
        let (status, audit) = app
            .api(
                Method::GET,
                "/api/v1/audit?action=webhook.delivery_failed",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{audit}");
        assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
        receiver.stop().await;
    }
);

on_both_backends!(
    internal_targets_are_refused_at_registration_and_at_delivery,
    &[],
    async |app: &TestApp| {
        let receiver = Receiver::start(0).await;
        let admin = app.admin_token().await;
        for url in [
            "https://127.0.0.1/hook",
            "https://10.0.0.5/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://localhost/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://2130706433/hook",
            receiver.url.as_str(),
            "http://93.184.215.14/hook",
        ] {
            let (status, body) = register(
                app,
                &admin,
                json!({"url": url, "events": ["appointment.booked"]}),
            )
            .await;
            assert_eq!(status, 422, "{url}: {body}");
            assert_eq!(body["error"]["fields"][0]["field"], "url", "{url}: {body}");
        }
        // A public address is accepted; then pointed (behind the API's back)
        // at the local receiver: the delivery is refused, never sent.
        let (status, created) = register(
            app,
            &admin,
            json!({"url": "https://93.184.215.14/hook", "events": ["appointment.booked"]}),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let hook = created["id"].as_str().unwrap();
        let port = receiver
            .url
            .split(':')
            .nth(2)
            .unwrap()
            .trim_end_matches("/hook");
        app.sql(&format!(
            "UPDATE webhook_endpoints SET url = 'https://127.0.0.1:{port}/hook'"
        ))
        .await;
        book_api(app, &admin, "2030-03-04T10:00:00-08:00").await;
        let deadline = Instant::now() + WAIT;
        let log = loop {
            let log = deliveries(app, &admin, hook).await;
            if log
                .first()
                .is_some_and(|d| d["attempts"] == 1 && d["last_error"].is_string())
            {
                break log;
            }
            assert!(Instant::now() < deadline, "{log:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(log[0]["status"], "pending");
        assert_eq!(log[0]["status_code"], Value::Null);
        let error = log[0]["last_error"].as_str().unwrap();
        assert!(error.contains("refused target"), "{error}");
        assert!(receiver.hits().is_empty());
        receiver.stop().await;
    }
);

on_both_backends!(
    another_tenants_webhooks_are_not_found,
    ALLOW,
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let ann = app.staff_token(&admin, "ann@example.com").await;
        let bob = app.staff_token(&admin, "bob@example.com").await;
        let (status, cal) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&ann),
                Some(&json!({"name": "Ann's Clinic", "time_zone": "Europe/London"})),
            )
            .await;
        assert_eq!(status, 201, "{cal}");
        let cal = cal["id"].as_str().unwrap();
        // Staff must choose one of their calendars.
        let (status, body) = register(
            app,
            &ann,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["call.ended"]}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["fields"][0]["field"], "calendar_id");
        let (status, body) = register(
            app,
            &ann,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["call.ended"], "calendar_id": DEFAULT_CALENDAR}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["fields"][0]["field"], "calendar_id");
        let (status, created) = register(
            app,
            &ann,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["appointment.booked"], "calendar_id": cal}),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let hook = created["id"].as_str().unwrap();
        for (method, path) in [
            (Method::GET, format!("/api/v1/webhooks/{hook}")),
            (Method::DELETE, format!("/api/v1/webhooks/{hook}")),
            (Method::GET, format!("/api/v1/webhooks/{hook}/deliveries")),
            (
                Method::POST,
                format!("/api/v1/webhooks/{hook}/deliveries/1/redeliver"),
            ),
        ] {
            let (status, body) = app.api(method.clone(), &path, Some(&bob), None).await;
            assert_eq!(status, 404, "{method} {path}: {body}");
        }
        let (_, list) = app
            .api(Method::GET, "/api/v1/webhooks", Some(&bob), None)
            .await;
        assert_eq!(list["items"], json!([]));
        let (_, list) = app
            .api(Method::GET, "/api/v1/webhooks", Some(&ann), None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (_, list) = app
            .api(Method::GET, "/api/v1/webhooks", Some(&admin), None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (status, _) = app.api(Method::GET, "/api/v1/webhooks", None, None).await;
        assert_eq!(status, 401);
    }
);

on_both_backends!(bad_registrations_are_named, ALLOW, async |app: &TestApp| {
    let admin = app.admin_token().await;
    let url = "http://127.0.0.1:9/hook";
    let long_url = format!("https://example.com/{}", "a".repeat(3000));
    let long_description = "d".repeat(201);
    for (body, field) in [
        (json!({"url": url, "events": []}), "events"),
        (
            json!({"url": url, "events": ["appointment.exploded"]}),
            "events",
        ),
        (
            json!({"url": url, "events": vec!["call.ended"; 17]}),
            "events",
        ),
        (json!({"url": long_url, "events": ["call.ended"]}), "url"),
        (
            json!({"url": "ftp://example.com/x", "events": ["call.ended"]}),
            "url",
        ),
        (json!({"url": "not a url", "events": ["call.ended"]}), "url"),
        (
            json!({"url": "https://user:pw@93.184.215.14/", "events": ["call.ended"]}),
            "url",
        ),
        (
            json!({"url": url, "events": ["call.ended"], "description": long_description}),
            "description",
        ),
        (
            json!({"url": url, "events": ["call.ended"], "calendar_id": "00000000-0000-7000-8000-00000000dead"}),
            "calendar_id",
        ),
    ] {
        let (status, answer) = register(app, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(
            answer["error"]["fields"][0]["field"], field,
            "{body}: {answer}"
        );
    }
    // Wrong shapes are named too.
    for body in [
        json!({"url": url, "events": ["call.ended"], "secret": "mine"}),
        json!({"events": ["call.ended"]}),
        json!({"url": url, "events": "call.ended"}),
    ] {
        let (status, answer) = register(app, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
    }
    let huge =
        json!({"url": url, "events": ["call.ended"], "description": "x".repeat(2 * 1024 * 1024)});
    let (status, _) = register(app, &admin, huge).await;
    assert_eq!(status, 413);
    let (status, _) = app
        .api(
            Method::GET,
            "/api/v1/webhooks/not-a-uuid",
            Some(&admin),
            None,
        )
        .await;
    assert!(status == 400 || status == 404 || status == 422, "{status}");
});

/// Two instances on one PostgreSQL, both running delivery workers: every
/// event reaches the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_deliver_each_event_once() {
    let name = "two_instances_on_one_postgres_deliver_each_event_once";
    let Some(a) = spawn(Db::Postgres, name, ALLOW).await else {
        return;
    };
    let shared = a.database_url().to_owned();
    let b = spawn(
        Db::Postgres,
        &format!("{name}_b"),
        &[
            ("DATABASE_URL", shared.as_str()),
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ],
    )
    .await
    .expect("the second instance");
    let receiver = Receiver::start(0).await;
    let admin = a.admin_token().await;
    let (_, secret) = register_all(&a, &admin, &receiver.url).await;
    let starts: Vec<String> = (0..12)
        .map(|half_hours| {
            format!(
                "2030-03-04T{:02}:{:02}:00-08:00",
                9 + half_hours / 2,
                (half_hours % 2) * 30
            )
        })
        .collect();
    futures::future::join_all(starts.iter().enumerate().map(|(i, start)| {
        let app = if i % 2 == 0 { &a } else { &b };
        let admin = admin.as_str();
        async move { book_api(app, admin, start).await }
    }))
    .await;
    receiver.wait_for(12).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 12, "each event once");
    let mut ids: Vec<String> = hits
        .iter()
        .map(|h| verify(&secret, h)["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    receiver.stop().await;
    b.cleanup().await;
    a.cleanup().await;
}

on_both_backends!(
    an_end_of_call_report_is_delivered_once_as_call_ended,
    ALLOW,
    async |app: &TestApp| {
        let receiver = Receiver::start(0).await;
        let admin = app.admin_token().await;
        let (status, created) = register(
            app,
            &admin,
            json!({"url": receiver.url, "events": ["call.ended"]}),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let secret = created["secret"].as_str().unwrap();
        for name in [
            "status-update.json",
            "end-of-call-report.json",
            "end-of-call-report.json",
        ] {
            let response = app.post_vapi("/vapi/webhook", &fixture(name)).await;
            assert_eq!(response.status(), 200, "{name}");
        }
        // Bookings are not subscribed to: nothing for them.
        book_api(app, &admin, "2030-03-04T10:00:00-08:00").await;
        let hits = receiver.wait_for(1).await;
        let event = verify(secret, &hits[0]);
        assert_eq!(event["type"], "call.ended");
        assert_eq!(
            event["data"]["call"]["vapi_call_id"],
            "7420f27a-30fd-4f49-a995-5549ae7cc00d"
        );
        assert_eq!(event["data"]["call"]["ended_reason"], "customer-ended-call");
        assert_eq!(
            event["data"]["call"]["summary"],
            "Jane booked a discovery session for Tuesday at 2 PM."
        );
        assert!(event["data"]["call"].get("transcript").is_none());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            receiver.hits().len(),
            1,
            "once, though the report came twice"
        );
        receiver.stop().await;
    }
);
