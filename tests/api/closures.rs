//! Closures, special hours and time off (#17): set through the API, applied
//! by availability (API and voice) and bookings, existing appointments
//! listed, not cancelled; tenancy and bad input.
//!
//! The fixtures' clock is Friday 2030-03-01 09:14 in Los Angeles; the seeded
//! calendar works mon-fri 09:00-17:00 there (PDT, -07:00, from March 10).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, is_error, text};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";

fn path(calendar: &str) -> String {
    format!("/api/v1/calendars/{calendar}/closures")
}

async fn put(app: &TestApp, token: &str, calendar: &str, body: &Value) -> (u16, Value) {
    let (status, answer) = app
        .api(Method::PUT, &path(calendar), Some(token), Some(body))
        .await;
    (status.as_u16(), answer)
}

fn march_closures() -> Value {
    json!({
        "days": [
            {"date": "2030-03-15", "hours": ["09:00-12:00"], "label": "Half day"},
            {"date": "2030-03-14", "label": "Founders Day"},
        ],
        "time_off": [
            {"from": "2030-03-19T09:00:00-07:00", "to": "2030-03-19T13:00:00-07:00", "label": "Training"},
        ],
    })
}

fn field_names(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields: {body}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends!(
    closures_apply_to_availability_voice_and_bookings,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let (status, set) = put(app, &admin, DEFAULT_CALENDAR, &march_closures()).await;
        assert_eq!(status, 200, "{set}");
        assert_eq!(set["affected_appointments"], json!([]));
        assert_eq!(set["time_zone"], "America/Los_Angeles");
        assert_eq!(set["days"][0]["date"], "2030-03-14", "by date: {set}");
        assert_eq!(set["days"][0]["label"], "Founders Day");
        assert!(set["days"][0].get("hours").is_none(), "closed: {set}");
        assert_eq!(set["days"][1]["hours"], json!(["09:00-12:00"]));
        assert_eq!(set["time_off"][0]["from"], "2030-03-19T09:00:00-07:00");

        let (status, read) = app
            .api(Method::GET, &path(DEFAULT_CALENDAR), Some(&admin), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(read["days"], set["days"]);
        assert_eq!(read["time_off"], set["time_off"]);

        // API availability: closed, with its label; special hours
        let (status, closed) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/availability?date=2030-03-14"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{closed}");
        assert_eq!(closed["slots"], json!([]));
        assert_eq!(closed["date_override"]["closed"], true);
        assert_eq!(closed["date_override"]["label"], "Founders Day");
        let (_, half) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/availability?date=2030-03-15"),
                Some(&admin),
                None,
            )
            .await;
        let starts: Vec<&str> = half["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["start"].as_str().unwrap())
            .collect();
        assert_eq!(starts.len(), 6, "{half}");
        assert_eq!(starts[0], "2030-03-15T09:00:00-07:00");
        assert_eq!(starts[5], "2030-03-15T11:30:00-07:00");
        assert_eq!(half["date_override"]["closed"], false);
        // time off is busy: 09:00-13:00 gone on the 19th
        let (_, off) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/availability?date=2030-03-19"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(
            off["slots"][0]["start"], "2030-03-19T13:00:00-07:00",
            "{off}"
        );

        // voice: the closed day says why, with the nearest free times
        let check = app
            .tool("c1", "check_availability", json!({"date": "2030-03-14"}))
            .await;
        assert!(!is_error(&check), "{check}");
        assert_eq!(check["metadata"]["status"], "closed");
        assert_eq!(check["metadata"]["label"], "Founders Day");
        let t = text(&check);
        assert!(
            t.starts_with("We're closed on Thursday, March 14, 2030 (Founders Day). The nearest free times are"),
            "{t}"
        );
        assert!(t.contains("March 15"), "{t}");

        // voice booking into the closure and into time off: refused with the reason
        let refused = app
            .tool(
                "b1",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-14", "time": "10:00"}),
            )
            .await;
        assert!(is_error(&refused), "{refused}");
        assert_eq!(refused["metadata"]["reason"], "closed");
        let t = text(&refused);
        assert!(
            t.contains("We're closed on Thursday, March 14, 2030 (Founders Day)"),
            "{t}"
        );
        assert!(t.contains("nearest free times"), "{t}");
        let away = app
            .tool(
                "b2",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-19", "time": "10:00"}),
            )
            .await;
        assert!(is_error(&away), "{away}");
        assert_eq!(away["metadata"]["reason"], "time_off");
        assert!(text(&away).contains("(Training) until"), "{}", text(&away));
        let late = app
            .tool(
                "b3",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-15", "time": "14:00"}),
            )
            .await;
        assert_eq!(late["metadata"]["reason"], "outside_special_hours");
        assert!(text(&late).contains("(Half day)"), "{}", text(&late));

        // API booking: 409 with the reason
        let (status, api) = app
            .api(
                Method::POST,
                "/api/v1/appointments",
                Some(&admin),
                Some(&json!({
                    "calendar_id": DEFAULT_CALENDAR,
                    "start": "2030-03-14T10:00:00-07:00",
                    "customer_name": "Ann Lee",
                    "customer_phone": "+14155550123",
                })),
            )
            .await;
        assert_eq!(status, 409, "{api}");
        assert_eq!(api["error"]["reason"], "closed");
        assert!(
            api["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Founders Day"),
            "{api}"
        );
        assert!(!api["error"]["alternatives"].as_array().unwrap().is_empty());
    }
);

on_both_backends!(
    an_appointment_in_a_new_closure_is_listed_not_cancelled,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let booked = app
            .tool(
                "b",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "11:00"}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        let id = booked["metadata"]["appointment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let other = app
            .tool(
                "b2",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-13", "time": "11:00"}),
            )
            .await;
        assert_eq!(other["metadata"]["status"], "booked", "{other}");

        let (status, set) = put(
            app,
            &admin,
            DEFAULT_CALENDAR,
            &json!({"days": [{"date": "2030-03-12", "label": "Flood"}]}),
        )
        .await;
        assert_eq!(status, 200, "{set}");
        let affected = set["affected_appointments"].as_array().unwrap();
        assert_eq!(affected.len(), 1, "{set}");
        assert_eq!(affected[0]["id"], id);
        assert_eq!(affected[0]["status"], "confirmed");
        let (_, still) = app
            .api(
                Method::GET,
                &format!("/api/v1/appointments/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(still["status"], "confirmed", "not cancelled: {still}");

        // time off and special hours strand appointments too
        let (_, set) = put(
            app,
            &admin,
            DEFAULT_CALENDAR,
            &json!({
                "days": [{"date": "2030-03-12", "hours": ["13:00-17:00"]}],
                "time_off": [{"from": "2030-03-13T18:00:00Z", "to": "2030-03-13T18:30:00Z"}],
            }),
        )
        .await;
        assert_eq!(
            set["affected_appointments"].as_array().unwrap().len(),
            2,
            "{set}"
        );
        // and an empty set frees them all
        let (status, cleared) = put(app, &admin, DEFAULT_CALENDAR, &json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(cleared["affected_appointments"], json!([]));
        assert_eq!(cleared["days"], json!([]));
    }
);

on_both_backends!(
    another_tenant_cannot_read_or_write_closures,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let ann = app.staff_token(&admin, "ann@example.com").await;
        let bob = app.staff_token(&admin, "bob@example.com").await;
        let (status, created) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&ann),
                Some(&json!({"name": "Ann's Clinic", "time_zone": "Europe/London"})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let anns = created["id"].as_str().unwrap().to_owned();
        let body = json!({"days": [{"date": "2030-12-25", "label": "Christmas Day"}]});
        assert_eq!(put(app, &ann, &anns, &body).await.0, 200);

        let (status, _) = app.api(Method::GET, &path(&anns), Some(&bob), None).await;
        assert_eq!(status, 404);
        let (status, _) = put(app, &bob, &anns, &json!({})).await;
        assert_eq!(status, 404);
        let (status, _) = app.api(Method::GET, &path(&anns), None, None).await;
        assert_eq!(status, 401);
        let (status, _) = app
            .api(Method::PUT, &path(&anns), None, Some(&json!({})))
            .await;
        assert_eq!(status, 401);
        // bob's attempt changed nothing; the administrator sees them
        let (status, read) = app.api(Method::GET, &path(&anns), Some(&admin), None).await;
        assert_eq!(status, 200);
        assert_eq!(read["days"][0]["label"], "Christmas Day");
        assert_eq!(read["time_zone"], "Europe/London");
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
    bad_and_oversized_closures_are_refused_by_field,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        assert_eq!(
            put(app, &admin, DEFAULT_CALENDAR, &march_closures())
                .await
                .0,
            200
        );
        let refuse = async |body: Value| {
            let (status, answer) = put(app, &admin, DEFAULT_CALENDAR, &body).await;
            assert_eq!(status, 422, "{answer}");
            field_names(&answer)
        };
        assert_eq!(
            refuse(json!({"days": [
                {"date": "2030-12-24"},
                {"date": "2030-12-25"},
                {"date": "25/12/2030"},
            ]}))
            .await,
            ["days[2].date"]
        );
        assert_eq!(
            refuse(json!({"days": [{"date": "2030-12-24", "label": "x".repeat(81)}]})).await,
            ["days[0].label"]
        );
        assert_eq!(
            refuse(json!({"days": [{"date": "2030-12-24", "label": "a\u{0}b"}]})).await,
            ["days[0].label"]
        );
        assert_eq!(
            refuse(json!({"days": [{"date": "2030-12-24"}, {"date": "2030-12-24"}]})).await,
            ["days[1].date"]
        );
        assert_eq!(
            refuse(json!({"days": [{"date": "2030-12-24", "hours": ["17:00-09:00"]}]})).await,
            ["days[0].hours[0]"]
        );
        // far out of range
        assert_eq!(
            refuse(json!({"days": [{"date": "9999-12-31"}, {"date": "1900-01-01"}]})).await,
            ["days[0].date", "days[1].date"]
        );
        assert_eq!(
            refuse(json!({"time_off": [
                {"from": "2030-03-20T10:00:00Z", "to": "2030-03-19T10:00:00Z"},
                {"from": "+262143-01-01T00:00:00Z", "to": "2030-03-19T10:00:00Z"},
                {"from": "2030-03-01T00:00:00Z", "to": "2032-12-31T00:00:00Z"},
                {"from": "2030-04-01T00:00:00Z", "to": "2031-06-01T00:00:00Z"},
            ]}))
            .await,
            [
                "time_off[0].to",
                "time_off[1].from",
                "time_off[2].to",
                "time_off[3].to"
            ]
        );
        // too many entries
        let many: Vec<Value> = (0..501)
            .map(|i| json!({"date": format!("2030-{:02}-{:02}", 1 + i % 12, 1 + i % 28)}))
            .collect();
        assert_eq!(refuse(json!({"days": many})).await, ["days"]);
        // the wrong shape is named too
        let (status, answer) = put(
            app,
            &admin,
            DEFAULT_CALENDAR,
            &json!({"days": [{"date": "2030-12-24", "closed": true}]}),
        )
        .await;
        assert_eq!(status, 422, "{answer}");
        // nothing was written by any refused request
        let (_, read) = app
            .api(Method::GET, &path(DEFAULT_CALENDAR), Some(&admin), None)
            .await;
        assert_eq!(read["days"].as_array().unwrap().len(), 2, "{read}");
        assert_eq!(read["days"][0]["label"], "Founders Day");
    }
);
