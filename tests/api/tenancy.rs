//! Calendars and the appointments API: each user sees and manages only their
//! own; administrators see all; VAPI requests land on the right calendar.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, is_error, text};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";

async fn create_calendar(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, created) = app
        .api(Method::POST, "/api/v1/calendars", Some(token), Some(&body))
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

/// Books through the API; returns status and body.
async fn book(app: &TestApp, token: &str, body: &Value, key: Option<&str>) -> (u16, Value, bool) {
    let headers: Vec<(&str, &str)> = key
        .map(|k| vec![("Idempotency-Key", k)])
        .unwrap_or_default();
    let response = app
        .api_response(
            Method::POST,
            "/api/v1/appointments",
            Some(token),
            Some(body),
            &headers,
        )
        .await;
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let body: Value = response.json().await.expect("json");
    (status, body, replayed)
}

fn booking(calendar: &str, start: &str, phone: &str) -> Value {
    json!({
        "calendar_id": calendar,
        "start": start,
        "customer_name": "Ann Lee",
        "customer_phone": phone,
        "purpose": "checkup",
    })
}

on_both_backends!(
    the_first_administrator_owns_the_seeded_calendar,
    &[("BUSINESS_HOURS", "mon-sat 08:00-12:00")],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let (status, list) = app
            .api(Method::GET, "/api/v1/calendars", Some(&admin), None)
            .await;
        assert_eq!(status, 200);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["id"], DEFAULT_CALENDAR);
        assert_eq!(list[0]["slug"], "default");
        assert_eq!(list[0]["working_hours"], "mon-sat 08:00-12:00");
        assert_eq!(list[0]["time_zone"], "America/Los_Angeles");
        let (_, me) = app.api(Method::GET, "/auth/me", Some(&admin), None).await;
        assert_eq!(list[0]["owner_id"], me["id"]);
    }
);

on_both_backends!(
    calendars_are_created_changed_and_validated,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let staff = app.staff_token(&admin, "ann@example.com").await;
        let created = create_calendar(
            app,
            &staff,
            json!({"name": "Ann's Clinic", "time_zone": "Europe/London"}),
        )
        .await;
        assert_eq!(created["slug"], "ann-s-clinic");
        assert_eq!(created["working_hours"], "mon-fri 09:00-17:00");
        assert_eq!(created["slot_minutes"], 30);
        let id = created["id"].as_str().unwrap().to_owned();
        // The VAPI ids are an administrator's to assign (sorted, deduplicated).
        let (status, routed) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/calendars/{id}"),
                Some(&admin),
                Some(&json!({"vapi_assistant_ids": ["asst-b", "asst-a", "asst-b"]})),
            )
            .await;
        assert_eq!(status, 200, "{routed}");
        assert_eq!(routed["vapi_assistant_ids"], json!(["asst-a", "asst-b"]));

        // Every refused field is named at once.
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/calendars/{id}"),
                Some(&staff),
                Some(&json!({"slot_minutes": 3, "time_zone": "Mars/Base", "working_hours": "mon 9-5", "slug": "Bad Slug", "buffer_minutes": 999})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let fields: Vec<&str> = body["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        for field in [
            "slot_minutes",
            "time_zone",
            "working_hours",
            "slug",
            "buffer_minutes",
        ] {
            assert!(fields.contains(&field), "{field} not named: {body}");
        }
        // An unknown field is named too.
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/calendars/{id}"),
                Some(&staff),
                Some(&json!({"colour": "red"})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("colour"),
            "{body}"
        );

        // A valid change keeps what was not given.
        let (status, changed) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/calendars/{id}"),
                Some(&staff),
                Some(&json!({"working_hours": "mon-fri 08:00-12:00,13:00-18:00", "buffer_minutes": 10, "slug": "ann"})),
            )
            .await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["working_hours"], "mon-fri 08:00-12:00,13:00-18:00");
        assert_eq!(changed["buffer_minutes"], 10);
        assert_eq!(changed["slug"], "ann");
        assert_eq!(changed["time_zone"], "Europe/London");
        assert_eq!(changed["vapi_assistant_ids"], json!(["asst-a", "asst-b"]));
        let (_, read) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{id}"),
                Some(&staff),
                None,
            )
            .await;
        assert_eq!(read, changed);

        // Slugs and VAPI ids are unique across calendars.
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&admin),
                Some(&json!({"name": "Other", "slug": "ann", "time_zone": "UTC"})),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "slug_taken");
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&admin),
                Some(
                    &json!({"name": "Other", "time_zone": "UTC", "vapi_assistant_ids": ["asst-b"]}),
                ),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "vapi_id_taken");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("asst-b"),
            "{body}"
        );
        // Name and time zone are required on creation.
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&admin),
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            body["error"]["fields"].as_array().unwrap().len(),
            2,
            "{body}"
        );
    }
);

on_both_backends!(
    another_users_calendars_and_appointments_are_not_found,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let ann = app.staff_token(&admin, "ann@example.com").await;
        let bob = app.staff_token(&admin, "bob@example.com").await;
        let anns = create_calendar(
            app,
            &ann,
            json!({"name": "Ann", "time_zone": "America/Los_Angeles"}),
        )
        .await;
        let cal = anns["id"].as_str().unwrap().to_owned();
        let (status, appointment, _) = book(
            app,
            &ann,
            &booking(&cal, "2030-03-04T10:00:00-08:00", "+14155550101"),
            None,
        )
        .await;
        assert_eq!(status, 201, "{appointment}");
        let appt = appointment["id"].as_str().unwrap().to_owned();

        // Bob sees none of it: every route answers 404, never 403.
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/calendars/{cal}"), None),
            (
                Method::PATCH,
                format!("/api/v1/calendars/{cal}"),
                Some(json!({"name": "Mine"})),
            ),
            (Method::DELETE, format!("/api/v1/calendars/{cal}"), None),
            (
                Method::GET,
                format!("/api/v1/calendars/{cal}/availability?date=2030-03-04"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/appointments?calendar_id={cal}"),
                None,
            ),
            (Method::GET, format!("/api/v1/appointments/{appt}"), None),
            (
                Method::POST,
                format!("/api/v1/appointments/{appt}/cancel"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/api/v1/appointments/{appt}/reschedule"),
                Some(json!({"start": "2030-03-04T11:00:00-08:00"})),
            ),
            (
                Method::POST,
                "/api/v1/appointments".to_owned(),
                Some(booking(&cal, "2030-03-04T11:00:00-08:00", "+14155550102")),
            ),
        ] {
            let (status, body) = app
                .api(method.clone(), &path, Some(&bob), body.as_ref())
                .await;
            assert_eq!(status, 404, "{method} {path}: {body}");
            assert_eq!(body["error"]["code"], "not_found");
        }
        let (_, bobs_list) = app
            .api(Method::GET, "/api/v1/calendars", Some(&bob), None)
            .await;
        assert_eq!(bobs_list, json!([]));
        let (_, bobs_appointments) = app
            .api(Method::GET, "/api/v1/appointments", Some(&bob), None)
            .await;
        assert_eq!(bobs_appointments["items"], json!([]));
        let (_, legacy) = app
            .api(Method::GET, "/appointments", Some(&bob), None)
            .await;
        assert_eq!(legacy["items"], json!([]));

        // Nothing changed; Ann and the administrator see it.
        let (_, still) = app
            .api(
                Method::GET,
                &format!("/api/v1/appointments/{appt}"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(still["status"], "confirmed");
        assert_eq!(still["start"], "2030-03-04T10:00:00-08:00");
        let (_, all) = app
            .api(Method::GET, "/api/v1/appointments", Some(&admin), None)
            .await;
        assert_eq!(all["items"].as_array().unwrap().len(), 1);
        let (_, legacy) = app
            .api(Method::GET, "/appointments", Some(&ann), None)
            .await;
        assert_eq!(legacy["items"][0]["id"], appt.as_str());
        let (status, _) = app.api(Method::GET, "/appointments", None, None).await;
        assert_eq!(status, 401);
        let (_, cals) = app
            .api(Method::GET, "/api/v1/calendars", Some(&admin), None)
            .await;
        assert_eq!(cals.as_array().unwrap().len(), 2);
    }
);

on_both_backends!(
    appointments_are_booked_moved_and_cancelled_through_the_api,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let cal = DEFAULT_CALENDAR;
        // Availability: Monday 2030-03-04, 09:00-17:00 Los Angeles, 30-minute slots.
        let (status, day) = app
            .api(
                Method::GET,
                &format!(
                    "/api/v1/calendars/{cal}/availability?date=2030-03-04&duration_minutes=60"
                ),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{day}");
        assert_eq!(day["time_zone"], "America/Los_Angeles");
        assert_eq!(day["duration_minutes"], 60);
        assert_eq!(day["slots"][0]["start"], "2030-03-04T09:00:00-08:00");
        assert_eq!(day["slots"].as_array().unwrap().len(), 15);

        let (status, first, _) = book(
            app,
            &admin,
            &booking(cal, "2030-03-04T10:00:00-08:00", "(415) 555-0123"),
            None,
        )
        .await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(first["customer_phone"], "+14155550123");
        assert_eq!(first["channel"], "api");
        assert_eq!(first["end"], "2030-03-04T10:30:00-08:00");
        // The same caller, the same time: the appointment they hold.
        let (status, again, _) = book(
            app,
            &admin,
            &booking(cal, "2030-03-04T18:00:00Z", "+14155550123"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["id"], first["id"]);
        // Another caller: taken, with alternatives.
        let (status, taken, _) = book(
            app,
            &admin,
            &booking(cal, "2030-03-04T10:00:00-08:00", "+14155550199"),
            None,
        )
        .await;
        assert_eq!(status, 409, "{taken}");
        assert_eq!(taken["error"]["code"], "slot_unavailable");
        assert_eq!(taken["error"]["reason"], "taken");
        assert!(
            !taken["error"]["alternatives"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{taken}"
        );
        // Outside hours and bad fields.
        let (status, late, _) = book(
            app,
            &admin,
            &booking(cal, "2030-03-04T20:00:00-08:00", "+14155550199"),
            None,
        )
        .await;
        assert_eq!(status, 409);
        assert_eq!(late["error"]["reason"], "outside_hours");
        let (status, bad, _) = book(
            app,
            &admin,
            &json!({"calendar_id": cal, "start": "monday at ten", "customer_name": "", "customer_phone": "12"}),
            None,
        )
        .await;
        assert_eq!(status, 422, "{bad}");
        let fields: Vec<&str> = bad["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["start", "customer_name", "customer_phone"],
            "{bad}"
        );

        // Move, then cancel.
        let id = first["id"].as_str().unwrap();
        let (status, moved) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{id}/reschedule"),
                Some(&admin),
                Some(&json!({"start": "2030-03-04T11:30:00-08:00"})),
            )
            .await;
        assert_eq!(status, 200, "{moved}");
        assert_eq!(moved["start"], "2030-03-04T11:30:00-08:00");
        let (status, cancelled) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{id}/cancel"),
                Some(&admin),
                Some(&json!({"reason": "caller asked"})),
            )
            .await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["cancel_reason"], "caller asked");
        let (status, twice) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{id}/cancel"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 409, "{twice}");
        assert_eq!(twice["error"]["code"], "already_cancelled");
        // The time is free again.
        let (status, _, _) = book(
            app,
            &admin,
            &booking(cal, "2030-03-04T11:30:00-08:00", "+14155550199"),
            None,
        )
        .await;
        assert_eq!(status, 201);
        let (status, _) = app
            .api(
                Method::GET,
                &format!(
                    "/api/v1/appointments/{}",
                    "00000000-0000-0000-0000-000000000000"
                ),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = app
            .api(
                Method::GET,
                "/api/v1/appointments/not-a-uuid",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
);

on_both_backends!(
    idempotency_keys_replay_the_first_response,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let body = booking(
            DEFAULT_CALENDAR,
            "2030-03-05T09:00:00-08:00",
            "+14155550123",
        );
        let (status, first, replayed) = book(app, &admin, &body, Some("key-1")).await;
        assert_eq!((status, replayed), (201, false), "{first}");
        let (status, second, replayed) = book(app, &admin, &body, Some("key-1")).await;
        assert_eq!((status, replayed), (201, true), "{second}");
        assert_eq!(second, first);
        // The same key with another body.
        let other = booking(
            DEFAULT_CALENDAR,
            "2030-03-05T10:00:00-08:00",
            "+14155550123",
        );
        let (status, refused, _) = book(app, &admin, &other, Some("key-1")).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["code"], "idempotency_key_reused");
        // A refusal is the first response too.
        let clash = booking(
            DEFAULT_CALENDAR,
            "2030-03-05T09:00:00-08:00",
            "+14155550177",
        );
        let (status, _, _) = book(app, &admin, &clash, Some("key-2")).await;
        assert_eq!(status, 409);
        let (status, again, replayed) = book(app, &admin, &clash, Some("key-2")).await;
        assert_eq!((status, replayed), (409, true), "{again}");
        // Concurrent retries with one key: one appointment.
        let body = booking(
            DEFAULT_CALENDAR,
            "2030-03-05T11:00:00-08:00",
            "+14155550155",
        );
        let results =
            futures::future::join_all((0..6).map(|_| book(app, &admin, &body, Some("key-3"))))
                .await;
        let ids: std::collections::HashSet<String> = results
            .iter()
            .map(|(status, body, _)| {
                assert_eq!(*status, 201, "{body}");
                body["id"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1, "{results:?}");
        let (_, page) = app
            .api(
                Method::GET,
                "/api/v1/appointments?phone=4155550155",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    }
);

on_both_backends!(
    listings_filter_and_page_in_a_stable_order,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let mut expected = Vec::new();
        for (i, hour) in ["09:00", "09:30", "10:00", "10:30", "11:00"]
            .iter()
            .enumerate()
        {
            for day in ["04", "05"] {
                let (status, b, _) = book(
                    app,
                    &admin,
                    &booking(
                        DEFAULT_CALENDAR,
                        &format!("2030-03-{day}T{hour}:00-08:00"),
                        &format!("+1415555020{i}"),
                    ),
                    None,
                )
                .await;
                assert_eq!(status, 201, "{b}");
                expected.push((
                    b["start"].as_str().unwrap().to_owned(),
                    b["id"].as_str().unwrap().to_owned(),
                ));
            }
        }
        expected.sort();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/appointments?limit=3&cursor={c}"),
                None => "/api/v1/appointments?limit=3".to_owned(),
            };
            let (status, page) = app.api(Method::GET, &path, Some(&admin), None).await;
            assert_eq!(status, 200, "{page}");
            for item in page["items"].as_array().unwrap() {
                seen.push((
                    item["start"].as_str().unwrap().to_owned(),
                    item["id"].as_str().unwrap().to_owned(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, expected);
        // Filters: a day, a phone, a status.
        let (_, day) = app
            .api(
                Method::GET,
                "/api/v1/appointments?from=2030-03-05T00:00:00-08:00&to=2030-03-06T00:00:00-08:00",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(day["items"].as_array().unwrap().len(), 5);
        let (_, phone) = app
            .api(
                Method::GET,
                "/api/v1/appointments?phone=%2B14155550203",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(phone["items"].as_array().unwrap().len(), 2);
        let (_, cancelled) = app
            .api(
                Method::GET,
                "/api/v1/appointments?status=cancelled",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(cancelled["items"], json!([]));
        let (status, bad) = app
            .api(
                Method::GET,
                "/api/v1/appointments?from=yesterday&limit=0&status=maybe&cursor=x",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 422, "{bad}");
        let fields: Vec<&str> = bad["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["from", "status", "limit", "cursor"], "{bad}");
    }
);

on_both_backends!(
    deleting_a_calendar_needs_it_to_have_no_upcoming_appointments,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let created = create_calendar(
            app,
            &admin,
            json!({"name": "Temp", "time_zone": "America/Los_Angeles"}),
        )
        .await;
        let cal = created["id"].as_str().unwrap().to_owned();
        let (status, b, _) = book(
            app,
            &admin,
            &booking(&cal, "2030-03-04T10:00:00-08:00", "+14155550123"),
            None,
        )
        .await;
        assert_eq!(status, 201, "{b}");
        let (status, body) = app
            .api(
                Method::DELETE,
                &format!("/api/v1/calendars/{cal}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "calendar_has_appointments");
        let id = b["id"].as_str().unwrap();
        let (status, _) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{id}/cancel"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let (status, _) = app
            .api(
                Method::DELETE,
                &format!("/api/v1/calendars/{cal}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 204);
        let (status, _) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{cal}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
);

/// A VAPI tool call from a call placed through `assistant` / `phone_number`,
/// to `path`; the one result.
async fn tool_via(
    app: &TestApp,
    path: &str,
    assistant: Option<&str>,
    phone_number: Option<&str>,
) -> Value {
    let mut call = json!({"id": "call-route", "customer": {"number": "+14155550100"}});
    if let Some(a) = assistant {
        call["assistantId"] = json!(a);
    }
    if let Some(p) = phone_number {
        call["phoneNumberId"] = json!(p);
    }
    let body = json!({"message": {
        "type": "tool-calls",
        "call": call,
        "toolCallList": [{"id": format!("tc-{path}-{assistant:?}-{phone_number:?}"), "type": "function", "function": {"name": "check_availability", "arguments": {"date": "2030-03-04"}}}],
    }});
    let response = app.post_vapi(path, &body).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["results"][0].clone()
}

on_both_backends!(
    vapi_requests_land_on_the_right_calendar,
    &[],
    async |app: &TestApp| {
        // With one calendar, everything lands on it.
        let only = tool_via(app, "/vapi/tools", Some("asst-unknown"), None).await;
        assert!(!is_error(&only), "{only}");
        assert!(text(&only).contains("9"), "{only}");

        let admin = app.admin_token().await;
        // Two more calendars with different hours tell the answers apart.
        create_calendar(app, &admin, json!({"name": "Early", "slug": "early", "time_zone": "America/Los_Angeles", "working_hours": "mon-fri 06:00-07:00", "vapi_assistant_ids": ["asst-early"]})).await;
        create_calendar(app, &admin, json!({"name": "Late", "slug": "late", "time_zone": "America/Los_Angeles", "working_hours": "mon-fri 19:00-20:00", "vapi_phone_number_ids": ["pn-late"]})).await;

        let early = tool_via(app, "/vapi/tools", Some("asst-early"), Some("pn-late")).await;
        assert!(
            text(&early).contains("6"),
            "assistant wins over phone number: {early}"
        );
        assert!(
            !text(&early).contains("7 PM") && !text(&early).contains("7:00 PM"),
            "{early}"
        );
        let late = tool_via(app, "/vapi/tools", Some("asst-unknown"), Some("pn-late")).await;
        assert!(text(&late).contains("7"), "{late}");
        assert!(text(&late).to_lowercase().contains("pm"), "{late}");
        // The slug on the URL wins over both.
        let by_slug = tool_via(app, "/vapi/tools?calendar=late", Some("asst-early"), None).await;
        assert_eq!(text(&by_slug), text(&late));
        // Nothing matches and several calendars exist: a spoken error.
        let lost = tool_via(app, "/vapi/tools", Some("asst-unknown"), None).await;
        assert!(is_error(&lost), "{lost}");
        assert!(text(&lost).contains("not set up"), "{lost}");
        assert_eq!(lost["metadata"]["status"], "not_configured");
        let unknown_slug = tool_via(
            app,
            "/vapi/tools?calendar=nowhere",
            Some("asst-early"),
            None,
        )
        .await;
        assert!(is_error(&unknown_slug), "{unknown_slug}");
    }
);

on_both_backends!(
    a_calendar_change_made_through_another_instance_is_routed_within_a_second,
    &[],
    async |app: &TestApp| {
        let other = crate::helpers::spawn(
            crate::helpers::Db::Sqlite,
            "routing_second_instance",
            &[("DATABASE_URL", app.database_url())],
        )
        .await
        .expect("the second instance");
        // This instance routes an unknown line to the only calendar (and
        // keeps that answer for a moment).
        let only = tool_via(app, "/vapi/tools", Some("asst-unknown"), None).await;
        assert!(!is_error(&only), "{only}");
        // The other instance adds a second calendar: there, at once, the
        // line is no longer routed.
        let admin = other.admin_token().await;
        create_calendar(
            &other,
            &admin,
            json!({"name": "Second", "slug": "second", "time_zone": "UTC"}),
        )
        .await;
        let there = tool_via(&other, "/vapi/tools", Some("asst-unknown"), None).await;
        assert_eq!(there["metadata"]["status"], "not_configured", "{there}");
        // Here, within the routing cache's second.
        let started = std::time::Instant::now();
        loop {
            let here = tool_via(app, "/vapi/tools", Some("asst-unknown"), None).await;
            if here["metadata"]["status"] == "not_configured" {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "still routed after {:?}: {here}",
                started.elapsed()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        other.cleanup().await;
    }
);
