//! Calls from VAPI: `status-update` and `end-of-call-report` make one record
//! per call whatever the order, `GET /api/v1/calls` shows them to the
//! calendar's owner and administrators, `assistant-request` answers the
//! routed calendar's assistant, and transcripts are forgotten after
//! `CALL_RETENTION_DAYS`.

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, fixture, is_error};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";
/// The call of `status-update.json` and `end-of-call-report.json`.
const CALL_ID: &str = "7420f27a-30fd-4f49-a995-5549ae7cc00d";

/// Posts `body` to the webhook and expects `{"received": true}`.
async fn deliver(app: &TestApp, body: &Value) {
    let response = app.post_vapi("/vapi/webhook", body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"received": true}));
}

/// `fixture` with its call id replaced.
fn for_call(name: &str, call_id: &str) -> Value {
    let mut body = fixture(name);
    body["message"]["call"]["id"] = json!(call_id);
    body
}

/// Every call `token` may list.
async fn calls(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, page) = app
        .api(
            Method::GET,
            &format!("/api/v1/calls{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// The call with VAPI id `vapi_call_id`, in full (as an administrator).
async fn call(app: &TestApp, token: &str, vapi_call_id: &str) -> Value {
    let listed = calls(app, token, "").await;
    let item = listed
        .iter()
        .find(|c| c["vapi_call_id"] == vapi_call_id)
        .unwrap_or_else(|| panic!("{vapi_call_id} not listed: {listed:?}"));
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/api/v1/calls/{}", item["id"].as_str().unwrap()),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// What must not depend on the order of the messages.
fn facts(call: &Value) -> Value {
    let mut c = call.clone();
    for key in ["id", "vapi_call_id", "created_at", "updated_at"] {
        c.as_object_mut().unwrap().remove(key);
    }
    c
}

async fn create_calendar(app: &TestApp, token: &str, body: Value) -> String {
    let (status, created) = app
        .api(Method::POST, "/api/v1/calendars", Some(token), Some(&body))
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

on_both_backends!(
    status_updates_and_reports_make_one_record_per_call,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        deliver(app, &fixture("status-update.json")).await;
        let after_status = call(app, &admin, CALL_ID).await;
        assert_eq!(after_status["status"], "ended");
        assert_eq!(after_status["ended_reason"], "customer-ended-call");
        assert_eq!(after_status["direction"], "inbound");
        assert_eq!(after_status["customer_phone"], "+14155550123");
        assert_eq!(
            after_status["calendar_id"], DEFAULT_CALENDAR,
            "the only calendar"
        );
        // the message's timestamp stands in for the end until a report says
        assert_eq!(after_status["ended_at"], "2030-03-17T17:46:40Z");
        assert_eq!(after_status["started_at"], Value::Null);
        assert_eq!(after_status["duration_seconds"], Value::Null);
        assert_eq!(after_status["transcript"], Value::Null);
        assert_eq!(after_status["appointments"], json!([]));

        deliver(app, &fixture("end-of-call-report.json")).await;
        let reported = call(app, &admin, CALL_ID).await;
        assert_eq!(reported["id"], after_status["id"], "the same record");
        assert_eq!(
            reported["summary"],
            "Jane booked a discovery session for Tuesday at 2 PM."
        );
        assert!(
            reported["transcript"]
                .as_str()
                .unwrap()
                .starts_with("AI: Hi, this is the booking line."),
            "{reported}"
        );
        assert_eq!(
            reported["recording_url"],
            "https://storage.example.com/recordings/7420f27a.wav"
        );
        assert_eq!(reported["started_at"], "2030-03-01T17:14:15Z");
        assert_eq!(
            reported["ended_at"], "2030-03-01T17:17:42Z",
            "the report wins"
        );
        assert_eq!(reported["duration_seconds"], 207);
        assert_eq!(reported["ended_reason"], "customer-ended-call");
        assert_eq!(reported["cost"], 0.1342);
        assert_eq!(reported["success_evaluation"], "true");
        assert_eq!(reported["status"], "ended");

        deliver(app, &fixture("end-of-call-report-legacy.json")).await;
        let legacy = call(app, &admin, "call-uuid-legacy-report").await;
        assert_eq!(
            legacy["summary"],
            "The caller asked for availability next week and booked nothing."
        );
        assert_eq!(
            legacy["transcript"],
            "AI: How can I help? User: What do you have next week?"
        );
        assert_eq!(
            legacy["recording_url"],
            "https://storage.example.com/recordings/1234.wav"
        );
        assert_eq!(legacy["ended_reason"], "hangup");
        assert_eq!(legacy["direction"], "outbound");
        assert_eq!(legacy["customer_phone"], "+14155550111");
        assert_eq!(legacy["status"], "ended");
        assert_eq!(legacy["duration_seconds"], Value::Null, "no times given");
        assert_eq!(legacy["cost"], Value::Null);

        let listed = calls(app, &admin, "").await;
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(
            listed.iter().all(|c| c.get("transcript").is_none()),
            "the listing leaves transcripts out"
        );
        // other informational messages are acknowledged and change nothing
        deliver(app, &fixture("unknown-type.json")).await;
        assert_eq!(calls(app, &admin, "").await.len(), 2);
    }
);

on_both_backends!(
    the_same_messages_in_any_order_or_repeated_give_the_same_record,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let (status_update, report, legacy) = (
            "status-update.json",
            "end-of-call-report.json",
            "end-of-call-report-legacy.json",
        );
        let orders: [(&str, &[&str]); 3] = [
            ("in-order", &[status_update, report, legacy]),
            ("reversed", &[legacy, report, status_update]),
            (
                "repeated",
                &[report, status_update, report, legacy, status_update, report],
            ),
        ];
        for (call_id, order) in orders {
            for name in order {
                deliver(app, &for_call(name, call_id)).await;
            }
        }
        // the same report delivered ten times at once
        let concurrent = for_call(report, "concurrent");
        let deliveries = (0..10).map(|_| deliver(app, &concurrent));
        futures::future::join_all(deliveries).await;
        for name in [status_update, legacy] {
            deliver(app, &for_call(name, "concurrent")).await;
        }

        let expected = facts(&call(app, &admin, "in-order").await);
        for call_id in ["reversed", "repeated", "concurrent"] {
            assert_eq!(
                facts(&call(app, &admin, call_id).await),
                expected,
                "{call_id}"
            );
        }
        assert_eq!(calls(app, &admin, "").await.len(), 4, "one record per call");
        // the report's facts won over the status update's, the legacy
        // report filled what the current one lacked
        assert_eq!(expected["ended_at"], "2030-03-01T17:17:42Z");
        assert_eq!(expected["duration_seconds"], 207);
        assert_eq!(expected["status"], "ended");
        assert!(expected["summary"].is_string() && expected["transcript"].is_string());
    }
);

on_both_backends!(
    a_booking_made_during_the_call_shows_up_under_it,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let booking = json!({"message": {
            "type": "tool-calls",
            "call": {"id": CALL_ID, "type": "inboundPhoneCall", "customer": {"number": "+14155550123"}},
            "toolCallList": [{"id": "tc-book", "type": "function", "function": {
                "name": "book_appointment",
                "arguments": {"name": "Jane Doe", "date": "2030-03-12", "time": "14:00", "purpose": "Discovery session"},
            }}],
        }});
        let response = app.post_vapi("/vapi/tools", &booking).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert!(!is_error(&answer["results"][0]), "{answer}");
        // another call's booking is not this call's
        let other = app
            .tool(
                "tc-other",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "11:00"}),
            )
            .await;
        assert!(!is_error(&other), "{other}");

        deliver(app, &fixture("status-update.json")).await;
        deliver(app, &fixture("end-of-call-report.json")).await;
        let detail = call(app, &admin, CALL_ID).await;
        let appointments = detail["appointments"].as_array().unwrap();
        assert_eq!(appointments.len(), 1, "{detail}");
        assert_eq!(appointments[0]["vapi_call_id"], CALL_ID);
        assert_eq!(appointments[0]["customer_name"], "Jane Doe");
        assert_eq!(appointments[0]["channel"], "voice");
        assert_eq!(appointments[0]["start"], "2030-03-12T14:00:00-07:00");
    }
);

on_both_backends!(
    staff_see_only_the_calls_of_their_calendars,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let ann = app.staff_token(&admin, "ann@example.com").await;
        let bob = app.staff_token(&admin, "bob@example.com").await;
        let ann_cal = create_calendar(
            app,
            &ann,
            json!({"name": "Ann", "time_zone": "America/Los_Angeles"}),
        )
        .await;
        let bob_cal = create_calendar(
            app,
            &bob,
            json!({"name": "Bob", "time_zone": "America/Los_Angeles"}),
        )
        .await;
        // Only an administrator assigns the VAPI ids.
        for (calendar, assistant) in [(&ann_cal, "asst-ann"), (&bob_cal, "asst-bob")] {
            let (status, body) = app
                .api(
                    Method::PATCH,
                    &format!("/api/v1/calendars/{calendar}"),
                    Some(&admin),
                    Some(&json!({"vapi_assistant_ids": [assistant]})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        for (call_id, assistant) in [
            ("call-ann", "asst-ann"),
            ("call-bob", "asst-bob"),
            ("call-nobody", "asst-unknown"),
        ] {
            let mut body = for_call("end-of-call-report.json", call_id);
            body["message"]["call"]["assistantId"] = json!(assistant);
            deliver(app, &body).await;
        }

        let everything = calls(app, &admin, "").await;
        assert_eq!(everything.len(), 3);
        let id_of = |vapi: &str| {
            everything
                .iter()
                .find(|c| c["vapi_call_id"] == vapi)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let nobody = everything
            .iter()
            .find(|c| c["vapi_call_id"] == "call-nobody")
            .unwrap();
        assert_eq!(
            nobody["calendar_id"],
            Value::Null,
            "unrouted: kept without a calendar"
        );

        let mine = calls(app, &ann, "").await;
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0]["vapi_call_id"], "call-ann");
        assert_eq!(mine[0]["calendar_id"], ann_cal.as_str());
        assert_eq!(
            calls(app, &ann, &format!("?calendar_id={ann_cal}"))
                .await
                .len(),
            1
        );
        let (status, _) = app
            .api(
                Method::GET,
                &format!("/api/v1/calls?calendar_id={bob_cal}"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(status, 404);
        for (token, vapi, expected) in [
            (&ann, "call-ann", 200),
            (&ann, "call-bob", 404),
            (&ann, "call-nobody", 404),
            (&bob, "call-bob", 200),
            (&bob, "call-ann", 404),
            (&admin, "call-nobody", 200),
        ] {
            let (status, body) = app
                .api(
                    Method::GET,
                    &format!("/api/v1/calls/{}", id_of(vapi)),
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(status.as_u16(), expected, "{vapi}: {body}");
        }
        let (status, _) = app
            .api(
                Method::GET,
                &format!("/api/v1/calls/{}", uuid::Uuid::new_v4()),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = app.api(Method::GET, "/api/v1/calls", None, None).await;
        assert_eq!(status, 401);
        let (status, body) = app
            .api(
                Method::GET,
                "/api/v1/calls?limit=0&from=yesterday&cursor=x",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 422);
        let named: Vec<&str> = body["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, ["from", "limit", "cursor"]);
        let (status, _) = app
            .api(
                Method::POST,
                "/api/v1/calls/purge-transcripts",
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(status, 403);

        // pages of one add up to the whole listing, newest first
        let mut paged = Vec::new();
        let mut query = "?limit=1".to_owned();
        loop {
            let (_, page) = app
                .api(
                    Method::GET,
                    &format!("/api/v1/calls{query}"),
                    Some(&admin),
                    None,
                )
                .await;
            paged.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].clone()),
            );
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
                None => break,
            }
        }
        let whole: Vec<Value> = everything.iter().map(|c| c["id"].clone()).collect();
        assert_eq!(paged, whole);
    }
);

on_both_backends!(
    assistant_request_answers_the_routed_calendars_assistant,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let ask = async |path: &str, body: &Value| -> Value {
            let response = app.post_vapi(path, body).await;
            assert_eq!(response.status(), 200);
            response.json().await.unwrap()
        };
        let request = fixture("assistant-request.json");
        // the only calendar has no assistant yet: a sentence to speak
        let answer = ask("/vapi/webhook", &request).await;
        let spoken = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(spoken.contains("not set up"), "{spoken}");
        assert!(answer.get("assistantId").is_none());

        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}"),
                Some(&admin),
                Some(&json!({"vapi_assistant_ids": ["asst-main"], "vapi_phone_number_ids": ["42b4b25d-031e-4786-857f-63b346c9580f"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            ask("/vapi/webhook", &request).await,
            json!({"assistantId": "asst-main"})
        );

        // with a second calendar the phone number decides, or ?calendar=
        create_calendar(app, &admin, json!({"name": "Second", "slug": "second", "time_zone": "America/Los_Angeles", "vapi_assistant_ids": ["asst-second"]})).await;
        assert_eq!(
            ask("/vapi/webhook", &request).await,
            json!({"assistantId": "asst-main"})
        );
        assert_eq!(
            ask("/vapi/webhook?calendar=second", &request).await,
            json!({"assistantId": "asst-second"})
        );
        let mut unknown = request.clone();
        unknown["message"]["call"]["phoneNumberId"] = json!("pn-unknown");
        unknown["message"]["phoneNumber"]["id"] = json!("pn-unknown");
        let answer = ask("/vapi/tools", &unknown).await;
        assert!(
            answer["error"].as_str().unwrap().contains("not set up"),
            "{answer}"
        );
        // an assistant-request records no call
        assert!(calls(app, &admin, "").await.is_empty());
    }
);

on_both_backends!(
    transcripts_are_cleared_after_the_retention_period,
    &[("CALL_RETENTION_DAYS", "30")],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        deliver(app, &fixture("end-of-call-report.json")).await;
        let purge = async |token: &str| -> Value {
            let (status, body) = app
                .api(
                    Method::POST,
                    "/api/v1/calls/purge-transcripts",
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body
        };
        assert_eq!(purge(&admin).await["purged"], 0);

        // 29 days after the call: kept
        app.clock.advance(Duration::days(29));
        let admin = app.login("admin@example.com", ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(purge(&admin).await["purged"], 0);
        assert!(call(app, &admin, CALL_ID).await["transcript"].is_string());

        // 31 days after: the transcript and the recording go, the rest stays
        app.clock.advance(Duration::days(2));
        let admin = app.login("admin@example.com", ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let done = purge(&admin).await;
        assert_eq!(done["purged"], 1, "{done}");
        let purged = call(app, &admin, CALL_ID).await;
        assert_eq!(purged["transcript"], Value::Null);
        assert_eq!(purged["recording_url"], Value::Null);
        assert!(purged["transcript_purged_at"].is_string(), "{purged}");
        assert_eq!(
            purged["summary"],
            "Jane booked a discovery session for Tuesday at 2 PM."
        );
        assert_eq!(purged["duration_seconds"], 207);
        // a late re-delivery does not bring them back
        deliver(app, &fixture("end-of-call-report.json")).await;
        let again = call(app, &admin, CALL_ID).await;
        assert_eq!(again["transcript"], Value::Null);
        assert_eq!(again["recording_url"], Value::Null);
    }
);

on_both_backends!(
    a_call_message_that_cannot_be_stored_is_answered_503,
    &[],
    async |app: &TestApp| {
        app.sql("DROP TABLE calls").await;
        let response = app
            .post_vapi("/vapi/webhook", &fixture("end-of-call-report.json"))
            .await;
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "service_unavailable");
        // messages that record nothing are still acknowledged
        deliver(app, &fixture("unknown-type.json")).await;
    }
);
