//! Services (#17): managed through the API (validation, tenancy, limits),
//! offered and booked by voice (forgiving match, unknown service, the
//! service's length and buffers, list_services, the daily limit) and by the
//! API; per-calendar tool definitions.
//!
//! The fixtures' clock is Friday 2030-03-01 09:14 in Los Angeles; the seeded
//! calendar works mon-fri 09:00-17:00 there (PDT, -07:00, from March 10).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, is_error, text};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";

fn path(calendar: &str) -> String {
    format!("/api/v1/calendars/{calendar}/services")
}

async fn create(app: &TestApp, token: &str, calendar: &str, body: Value) -> (u16, Value) {
    let (status, answer) = app
        .api(Method::POST, &path(calendar), Some(token), Some(&body))
        .await;
    (status.as_u16(), answer)
}

fn field_names(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = body["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields: {body}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// "Teeth cleaning" (60 minutes, 15 before and after, the default) and
/// "Check-up" (20 minutes) on the seeded calendar; their ids.
async fn dental(app: &TestApp, admin: &str) -> (String, String) {
    let (status, cleaning) = create(
        app,
        admin,
        DEFAULT_CALENDAR,
        json!({
            "name": "Teeth cleaning",
            "description": "A scale and polish with the hygienist",
            "duration_minutes": 60,
            "buffer_before_minutes": 15,
            "buffer_after_minutes": 15,
        }),
    )
    .await;
    assert_eq!(status, 201, "{cleaning}");
    let (status, checkup) = create(
        app,
        admin,
        DEFAULT_CALENDAR,
        json!({"name": "Check-up", "duration_minutes": 20}),
    )
    .await;
    assert_eq!(status, 201, "{checkup}");
    (
        cleaning["id"].as_str().unwrap().to_owned(),
        checkup["id"].as_str().unwrap().to_owned(),
    )
}

on_both_backends!(
    services_are_managed_with_validation,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let (status, first) = create(
            app,
            &admin,
            DEFAULT_CALENDAR,
            json!({"name": "  Teeth   cleaning ", "duration_minutes": 60, "buffer_before_minutes": 15,
                   "buffer_after_minutes": 10, "daily_limit": 8, "description": "Scale and polish"}),
        )
        .await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(first["name"], "Teeth cleaning");
        assert_eq!(first["default"], true, "the first is the default");
        assert_eq!(first["duration_minutes"], 60);
        assert_eq!(first["buffer_before_minutes"], 15);
        assert_eq!(first["buffer_after_minutes"], 10);
        assert_eq!(first["daily_limit"], 8);
        assert_eq!(first["calendar_id"], DEFAULT_CALENDAR);
        let first_id = first["id"].as_str().unwrap().to_owned();

        let (status, second) =
            create(app, &admin, DEFAULT_CALENDAR, json!({"name": "Check-up"})).await;
        assert_eq!(status, 201, "{second}");
        assert_eq!(second["default"], false);
        assert_eq!(second["duration_minutes"], 30, "default length");
        assert_eq!(second["daily_limit"], Value::Null);
        let second_id = second["id"].as_str().unwrap().to_owned();

        // names are unique ignoring case and spacing
        let (status, taken) = create(
            app,
            &admin,
            DEFAULT_CALENDAR,
            json!({"name": "TEETH cleaning"}),
        )
        .await;
        assert_eq!(status, 409, "{taken}");
        assert_eq!(taken["error"]["code"], "service_name_taken");

        // every bad field is named at once
        let (status, bad) = create(
            app,
            &admin,
            DEFAULT_CALENDAR,
            json!({"name": " ", "duration_minutes": 2, "buffer_before_minutes": -1,
                   "buffer_after_minutes": 241, "daily_limit": 0}),
        )
        .await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(
            field_names(&bad),
            [
                "buffer_after_minutes",
                "buffer_before_minutes",
                "daily_limit",
                "duration_minutes",
                "name"
            ]
        );
        let (status, bad) = create(app, &admin, DEFAULT_CALENDAR, json!({})).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(field_names(&bad), ["name"]);
        // oversized name and description
        let (status, bad) = create(
            app,
            &admin,
            DEFAULT_CALENDAR,
            json!({"name": "n".repeat(61), "description": "d".repeat(301)}),
        )
        .await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(field_names(&bad), ["description", "name"]);
        let (status, _) = create(
            app,
            &admin,
            DEFAULT_CALENDAR,
            json!({"name": "x".repeat(200_000)}),
        )
        .await;
        assert!(status == 413 || status == 422, "{status}");
        // an unknown field is refused, not ignored
        let (status, _) = create(
            app,
            &admin,
            DEFAULT_CALENDAR,
            json!({"name": "Filling", "price": 10}),
        )
        .await;
        assert!(status == 400 || status == 422, "{status}");

        // read, list, change
        let one = format!("{}/{first_id}", path(DEFAULT_CALENDAR));
        let (status, read) = app.api(Method::GET, &one, Some(&admin), None).await;
        assert_eq!(status, 200);
        assert_eq!(read, first);
        let (status, list) = app
            .api(Method::GET, &path(DEFAULT_CALENDAR), Some(&admin), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
        let second_path = format!("{}/{second_id}", path(DEFAULT_CALENDAR));
        let (status, changed) = app
            .api(
                Method::PATCH,
                &second_path,
                Some(&admin),
                Some(&json!({"default": true, "duration_minutes": 20})),
            )
            .await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["default"], true);
        assert_eq!(changed["duration_minutes"], 20);
        assert_eq!(changed["name"], "Check-up", "kept");
        let (_, read) = app.api(Method::GET, &one, Some(&admin), None).await;
        assert_eq!(read["default"], false, "one default: {read}");
        let (status, cleared) = app
            .api(
                Method::PATCH,
                &one,
                Some(&admin),
                Some(&json!({"description": null, "daily_limit": null})),
            )
            .await;
        assert_eq!(status, 200, "{cleared}");
        assert_eq!(cleared["description"], Value::Null);
        assert_eq!(cleared["daily_limit"], Value::Null);
        assert_eq!(cleared["duration_minutes"], 60, "kept");
        let (status, bad) = app
            .api(
                Method::PATCH,
                &one,
                Some(&admin),
                Some(&json!({"buffer_after_minutes": 500})),
            )
            .await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(field_names(&bad), ["buffer_after_minutes"]);

        // delete the default: the other one becomes it
        let (status, _) = app
            .api(Method::DELETE, &second_path, Some(&admin), None)
            .await;
        assert_eq!(status, 204);
        let (status, _) = app.api(Method::GET, &second_path, Some(&admin), None).await;
        assert_eq!(status, 404);
        let (_, read) = app.api(Method::GET, &one, Some(&admin), None).await;
        assert_eq!(read["default"], true, "{read}");

        // many services: at most 50 per calendar
        for i in 0..49 {
            let (status, body) = create(
                app,
                &admin,
                DEFAULT_CALENDAR,
                json!({"name": format!("Service number {i}")}),
            )
            .await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, too_many) =
            create(app, &admin, DEFAULT_CALENDAR, json!({"name": "One more"})).await;
        assert_eq!(status, 409, "{too_many}");
        assert_eq!(too_many["error"]["code"], "too_many_services");
        // the per-calendar tool definitions carry every name as the enum
        let (status, tools) = app
            .api(
                Method::GET,
                &format!(
                    "/api/v1/calendars/{DEFAULT_CALENDAR}/vapi-tools?base_url=https://s.example.com"
                ),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{tools}");
        let names: Vec<&str> = tools
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"list_services"), "{names:?}");
        let service_enum = tools[0]["function"]["parameters"]["properties"]["service"]["enum"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(service_enum.len(), 50);
        assert_eq!(service_enum[0], "Teeth cleaning");
        // so does the CLI's, with --with-services
        let (_, calendar) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}"),
                Some(&admin),
                None,
            )
            .await;
        let slug = calendar["slug"].as_str().unwrap().to_owned();
        let url = app.database_url().to_owned();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_voice-scheduler"))
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("DATABASE_URL", url)
                .args([
                    "vapi",
                    "tools",
                    "--base-url",
                    "https://scheduler.example.com",
                    "--calendar",
                    &slug,
                    "--with-services",
                ])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            printed[1]["function"]["parameters"]["properties"]["service"]["enum"]
                .as_array()
                .unwrap()
                .len(),
            50
        );
    }
);

on_both_backends!(
    another_tenant_cannot_see_change_or_use_services,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let ann = app.staff_token(&admin, "ann@example.com").await;
        let bob = app.staff_token(&admin, "bob@example.com").await;
        let (status, calendar) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&ann),
                Some(&json!({"name": "Ann's Clinic", "time_zone": "Europe/London"})),
            )
            .await;
        assert_eq!(status, 201, "{calendar}");
        let anns = calendar["id"].as_str().unwrap().to_owned();
        let (status, service) = create(app, &ann, &anns, json!({"name": "Massage"})).await;
        assert_eq!(status, 201, "{service}");
        let service_id = service["id"].as_str().unwrap().to_owned();
        let one = format!("{}/{service_id}", path(&anns));

        // bob: 404 on every route, and nothing changes
        assert_eq!(
            app.api(Method::GET, &path(&anns), Some(&bob), None).await.0,
            404
        );
        assert_eq!(
            create(app, &bob, &anns, json!({"name": "Mine"})).await.0,
            404
        );
        assert_eq!(app.api(Method::GET, &one, Some(&bob), None).await.0, 404);
        let patch = json!({"name": "Hijacked"});
        assert_eq!(
            app.api(Method::PATCH, &one, Some(&bob), Some(&patch))
                .await
                .0,
            404
        );
        assert_eq!(app.api(Method::DELETE, &one, Some(&bob), None).await.0, 404);
        // bob's own calendar with ann's service id: not found either
        let (status, bobs) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&bob),
                Some(&json!({"name": "Bob's Barbers", "time_zone": "Europe/London"})),
            )
            .await;
        assert_eq!(status, 201, "{bobs}");
        let bobs = bobs["id"].as_str().unwrap().to_owned();
        let crossed = format!("{}/{service_id}", path(&bobs));
        assert_eq!(
            app.api(Method::GET, &crossed, Some(&bob), None).await.0,
            404
        );
        assert_eq!(
            app.api(Method::PATCH, &crossed, Some(&bob), Some(&patch))
                .await
                .0,
            404
        );
        assert_eq!(
            app.api(Method::DELETE, &crossed, Some(&bob), None).await.0,
            404
        );
        // ... nor can he book or check it in his own calendar
        let (status, refused) = app
            .api(
                Method::GET,
                &format!(
                    "/api/v1/calendars/{bobs}/availability?date=2030-03-12&service_id={service_id}"
                ),
                Some(&bob),
                None,
            )
            .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(field_names(&refused), ["service_id"]);
        let (status, refused) = app
            .api(
                Method::POST,
                "/api/v1/appointments",
                Some(&bob),
                Some(&json!({
                    "calendar_id": bobs,
                    "start": "2030-03-12T10:00:00+00:00",
                    "service_id": service_id,
                    "customer_name": "Ray Chan",
                    "customer_phone": "+14155550123",
                })),
            )
            .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(field_names(&refused), ["service_id"]);
        // not signed in
        assert_eq!(app.api(Method::GET, &path(&anns), None, None).await.0, 401);
        // unchanged; the administrator sees it
        let (status, read) = app.api(Method::GET, &one, Some(&admin), None).await;
        assert_eq!(status, 200);
        assert_eq!(read["name"], "Massage");
        // a calendar that does not exist
        let (status, _) = app
            .api(
                Method::GET,
                &path("00000000-0000-7000-8000-0000000000ff"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
);

on_both_backends!(
    voice_books_the_service_the_caller_names,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let (cleaning_id, _) = dental(app, &admin).await;

        // what is offered
        let listed = app.tool("l1", "list_services", json!({})).await;
        assert!(!is_error(&listed), "{listed}");
        let t = text(&listed);
        assert!(
            t.starts_with("We offer Teeth cleaning (60 minutes, the usual; A scale and polish with the hygienist) and Check-up (20 minutes)."),
            "{t}"
        );
        assert_eq!(listed["metadata"]["services"][1]["duration_minutes"], 20);

        // availability of a service, named loosely: its length
        let check = app
            .tool(
                "c1",
                "check_availability",
                json!({"date": "2030-03-12", "service": "a cleaning"}),
            )
            .await;
        assert!(!is_error(&check), "{check}");
        assert_eq!(check["metadata"]["service"], "Teeth cleaning");
        assert_eq!(check["metadata"]["duration_minutes"], 60);
        assert!(
            text(&check).contains("free times for Teeth cleaning"),
            "{}",
            text(&check)
        );

        // booked with the caller's words: the service's length
        let booked = app
            .tool(
                "b1",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "10:00", "service": "teeth cleanings"}),
            )
            .await;
        assert!(!is_error(&booked), "{booked}");
        assert_eq!(booked["metadata"]["service"], "Teeth cleaning");
        assert_eq!(booked["metadata"]["start"], "2030-03-12T10:00:00-07:00");
        assert_eq!(booked["metadata"]["end"], "2030-03-12T11:00:00-07:00");
        let t = text(&booked);
        assert!(t.contains("a Teeth cleaning"), "{t}");
        assert!(t.contains("for 60 minutes"), "{t}");

        // the API shows the service
        let id = booked["metadata"]["appointment_id"].as_str().unwrap();
        let (status, shown) = app
            .api(
                Method::GET,
                &format!("/api/v1/appointments/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["service"]["id"], cleaning_id.as_str());
        assert_eq!(shown["service"]["name"], "Teeth cleaning");

        // its buffers: 09:45-11:15 is held
        for (i, time) in ["11:00", "09:30"].iter().enumerate() {
            let refused = app
                .tool(
                    &format!("t{i}"),
                    "book_appointment",
                    json!({"name": "Ann Lee", "phone": "+14155550111", "date": "2030-03-12",
                           "time": time, "service": "check up"}),
                )
                .await;
            assert!(is_error(&refused), "{time}: {refused}");
            assert_eq!(refused["metadata"]["reason"], "taken", "{refused}");
        }
        let fits = app
            .tool(
                "b2",
                "book_appointment",
                json!({"name": "Ann Lee", "phone": "+14155550111", "date": "2030-03-12",
                       "time": "11:30", "service": "Check-Up"}),
            )
            .await;
        assert!(!is_error(&fits), "{fits}");
        assert_eq!(fits["metadata"]["end"], "2030-03-12T11:50:00-07:00");

        // offered slots keep the buffers: a cleaning needs 15 minutes free
        // before and after it
        let (status, day) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/availability?date=2030-03-12&service_id={cleaning_id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{day}");
        assert_eq!(day["duration_minutes"], 60);
        let starts: Vec<&str> = day["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["start"].as_str().unwrap())
            .collect();
        // the check-up ends 11:50, and a cleaning needs 15 minutes free
        // before it: the first one after starts 12:30 (30-minute grid)
        assert_eq!(
            starts.first(),
            Some(&"2030-03-12T12:30:00-07:00"),
            "{starts:?}"
        );
        assert!(!starts.contains(&"2030-03-12T09:00:00-07:00"), "{starts:?}");

        // no service named: the default (Teeth cleaning), 60 minutes
        let plain = app
            .tool(
                "b3",
                "book_appointment",
                json!({"name": "Sam Roe", "phone": "+14155550122", "date": "2030-03-13", "time": "10:00"}),
            )
            .await;
        assert!(!is_error(&plain), "{plain}");
        assert_eq!(plain["metadata"]["service"], "Teeth cleaning");
        assert_eq!(plain["metadata"]["end"], "2030-03-13T11:00:00-07:00");

        // a move keeps the service's length and buffers: 11:00 on the 13th
        // would start inside the buffer after the 10:00 cleaning there
        let code = booked["metadata"]["confirmation_code"].as_str().unwrap();
        let refused = app
            .tool(
                "r1",
                "reschedule_appointment",
                json!({"confirmation_code": code, "new_date": "2030-03-13", "new_time": "11:00"}),
            )
            .await;
        assert!(is_error(&refused), "{refused}");
        assert_eq!(refused["metadata"]["reason"], "taken", "{refused}");
        let moved = app
            .tool(
                "r2",
                "reschedule_appointment",
                json!({"confirmation_code": code, "new_date": "2030-03-13", "new_time": "11:30"}),
            )
            .await;
        assert!(!is_error(&moved), "{moved}");
        assert_eq!(moved["metadata"]["end"], "2030-03-13T12:30:00-07:00");
        assert_eq!(moved["metadata"]["service"], "Teeth cleaning");

        // an unknown service: what is offered, nothing booked
        let unknown = app
            .tool(
                "b4",
                "book_appointment",
                json!({"name": "Sam Roe", "phone": "+14155550122", "date": "2030-03-14",
                       "time": "10:00", "service": "haircut"}),
            )
            .await;
        assert!(is_error(&unknown), "{unknown}");
        assert_eq!(unknown["metadata"]["status"], "unknown_service");
        assert_eq!(
            text(&unknown),
            "We don't offer \"haircut\". We offer Teeth cleaning or Check-up. Ask the caller which of these they would like."
        );
        let unknown = app
            .tool(
                "c2",
                "check_availability",
                json!({"date": "2030-03-14", "service": "x".repeat(5000)}),
            )
            .await;
        assert_eq!(unknown["metadata"]["status"], "unknown_service");
        assert!(text(&unknown).len() < 300, "the echo is bounded");
    }
);

on_both_backends!(
    a_service_daily_limit_refuses_with_the_next_days,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let (status, body) = create(
            app,
            &admin,
            DEFAULT_CALENDAR,
            json!({"name": "Consultation", "duration_minutes": 30, "daily_limit": 1}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let first = app
            .tool(
                "b1",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "10:00", "service": "consultation"}),
            )
            .await;
        assert!(!is_error(&first), "{first}");
        let full = app
            .tool(
                "b2",
                "book_appointment",
                json!({"name": "Ann Lee", "phone": "+14155550111", "date": "2030-03-12",
                       "time": "14:00", "service": "consultations"}),
            )
            .await;
        assert!(is_error(&full), "{full}");
        assert_eq!(full["metadata"]["reason"], "service_full", "{full}");
        let t = text(&full);
        assert!(t.contains("fully booked on Tuesday, March 12, 2030"), "{t}");
        assert!(
            t.contains("March 13"),
            "alternatives from the next day: {t}"
        );
        // the day offers nothing more for it
        let check = app
            .tool(
                "c1",
                "check_availability",
                json!({"date": "2030-03-12", "service": "consultation"}),
            )
            .await;
        assert_eq!(check["metadata"]["slots"], json!([]), "{check}");
    }
);
