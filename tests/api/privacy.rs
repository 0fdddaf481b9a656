//! Privacy: a user's export, the deletion of their account, and the erasure
//! of a caller's personal data by an administrator.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, STAFF_PASSWORD, TestApp, fixture};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";
const STAFF_EMAIL: &str = "sam.staff@example.com";
const STAFF_CUSTOMER: &str = "Ophelia Staffordshire";
const ADMIN_CUSTOMER: &str = "Bartholomew Adminson";
/// The caller whose data is erased, and what must vanish with them.
const CALLER: &str = "+14155550166";
const CALLER_NAME: &str = "Winifred Erasmus";
const CALLER_EMAIL: &str = "winifred.erasmus@example.com";
const OTHER_CALLER: &str = "+14155550199";

async fn my_id(app: &TestApp, token: &str) -> String {
    let (status, me) = app.api(Method::GET, "/auth/me", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    me["id"].as_str().unwrap().to_owned()
}

async fn book(app: &TestApp, token: &str, calendar: &str, start: &str, name: &str, phone: &str) {
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/appointments",
            Some(token),
            Some(&json!({
                "calendar_id": calendar,
                "start": start,
                "customer_name": name,
                "customer_phone": phone,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Every audit entry, newest first.
async fn audit(app: &TestApp, admin: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/audit?limit=200".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.api(Method::GET, &path, Some(admin), None).await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// Every appointment `token` may list.
async fn appointments(app: &TestApp, token: &str) -> Value {
    let (status, page) = app
        .api(
            Method::GET,
            "/api/v1/appointments?limit=200",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");
    page["items"].clone()
}

on_both_backends!(
    export_then_delete_the_account,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let staff = app.staff_token(&admin, STAFF_EMAIL).await;
        let staff_id = my_id(app, &staff).await;

        let (status, calendar) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&staff),
                Some(&json!({"name": "Sam's room", "time_zone": "America/Los_Angeles"})),
            )
            .await;
        assert_eq!(status, 201, "{calendar}");
        let cal = calendar["id"].as_str().unwrap().to_owned();
        book(
            app,
            &staff,
            &cal,
            "2030-03-04T10:00:00-08:00",
            STAFF_CUSTOMER,
            CALLER,
        )
        .await;
        book(
            app,
            &admin,
            DEFAULT_CALENDAR,
            "2030-03-04T10:00:00-08:00",
            ADMIN_CUSTOMER,
            OTHER_CALLER,
        )
        .await;

        // The export: the staff member's own data, nobody else's.
        let (status, export) = app
            .api(Method::GET, "/api/v1/me/export", Some(&staff), None)
            .await;
        assert_eq!(status, 200, "{export}");
        assert_eq!(export["user"]["id"], staff_id.as_str());
        assert_eq!(export["user"]["email"], STAFF_EMAIL);
        assert!(export["user"].get("password_hash").is_none());
        let calendars = export["calendars"].as_array().unwrap();
        assert_eq!(calendars.len(), 1, "{export}");
        assert_eq!(calendars[0]["id"], cal.as_str());
        let booked = export["appointments"].as_array().unwrap();
        assert_eq!(booked.len(), 1, "{export}");
        assert_eq!(booked[0]["customer_name"], STAFF_CUSTOMER);
        assert!(!export.to_string().contains(ADMIN_CUSTOMER), "{export}");
        assert!(export["calls"].as_array().unwrap().is_empty());
        let audit_entries = export["audit"].as_array().unwrap();
        assert!(
            audit_entries
                .iter()
                .any(|e| e["action"] == "calendar.create" && e["actor_id"] == staff_id.as_str()),
            "{export}"
        );
        assert!(
            audit_entries
                .iter()
                .all(|e| e["actor_id"] == staff_id.as_str())
        );
        // An administrator exports only the calendars they own.
        let (status, admin_export) = app
            .api(Method::GET, "/api/v1/me/export", Some(&admin), None)
            .await;
        assert_eq!(status, 200, "{admin_export}");
        let ids: Vec<&Value> = admin_export["calendars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["id"])
            .collect();
        assert_eq!(ids, [&json!(DEFAULT_CALENDAR)], "{admin_export}");
        assert!(!admin_export.to_string().contains(STAFF_CUSTOMER));
        let (status, _) = app.api(Method::GET, "/api/v1/me/export", None, None).await;
        assert_eq!(status, 401);

        // The deletion.
        let (status, body) = app
            .api(Method::DELETE, "/api/v1/me", Some(&staff), None)
            .await;
        assert_eq!(status, 204, "{body}");
        let (status, _) = app.api(Method::GET, "/auth/me", Some(&staff), None).await;
        assert_eq!(status, 401, "the old access token is refused");
        let (status, body) = app
            .api(
                Method::POST,
                "/auth/login",
                None,
                Some(&json!({"email": STAFF_EMAIL, "password": STAFF_PASSWORD})),
            )
            .await;
        assert_eq!(status, 401, "{body}");
        // The calendar and its appointment stay, unowned, for administrators.
        let (status, kept) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{cal}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{kept}");
        assert!(kept["owner_id"].is_null(), "{kept}");
        let listed = appointments(app, &admin).await;
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["calendar_id"] == cal.as_str() && a["customer_name"] == STAFF_CUSTOMER),
            "{listed}"
        );
        // The audit log no longer names the user, but records the deletion.
        let all = audit(app, &admin).await;
        let text = Value::Array(all.clone()).to_string();
        assert!(!text.contains(&staff_id), "{text}");
        assert!(
            all.iter()
                .any(|e| e["action"] == "calendar.create" && e["actor_id"] == "erased-user"),
            "{text}"
        );
        let deleted: Vec<&Value> = all
            .iter()
            .filter(|e| e["action"] == "account.delete")
            .collect();
        assert_eq!(deleted.len(), 1, "{text}");
        assert_eq!(deleted[0]["actor_kind"], "system");
        assert_eq!(deleted[0]["resource"], "user:erased");
        // Both exports were recorded; the deleted user's is anonymised too.
        let exports: Vec<&Value> = all
            .iter()
            .filter(|e| e["action"] == "privacy.export")
            .collect();
        assert_eq!(exports.len(), 2, "{text}");
        assert!(
            exports.iter().any(|e| e["actor_id"] == "erased-user"),
            "{text}"
        );

        // The last administrator cannot delete their account…
        let (status, body) = app
            .api(Method::DELETE, "/api/v1/me", Some(&admin), None)
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "last_administrator");
        let (status, _) = app.api(Method::GET, "/auth/me", Some(&admin), None).await;
        assert_eq!(status, 200, "nothing changed");
        // …until there is another one.
        let (status, body) = app
            .api(
                Method::POST,
                "/auth/register",
                Some(&admin),
                Some(&json!({"email": "second@example.com", "password": ADMIN_PASSWORD, "name": "Second", "role": "admin"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = app
            .api(Method::DELETE, "/api/v1/me", Some(&admin), None)
            .await;
        assert_eq!(status, 204, "{body}");
        let (status, _) = app.api(Method::GET, "/auth/me", Some(&admin), None).await;
        assert_eq!(status, 401);
    }
);

on_both_backends!(
    an_administrator_erases_a_callers_data,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let staff = app.staff_token(&admin, STAFF_EMAIL).await;

        let booked = app
            .tool_from(
                Some(CALLER),
                "privacy-book",
                "book_appointment",
                json!({"name": CALLER_NAME, "date": "2030-03-12", "time": "11:00", "email": CALLER_EMAIL, "purpose": "Winifred's knee"}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        // A kept answer that repeats the caller's number, as earlier versions
        // kept for every booking.
        app.sql(&format!(
            "INSERT INTO tool_replies (scope, key, fingerprint, body, created_at) VALUES ('vapi-tool-call', 'legacy-call', 'f', '{{\"result\": \"Booked for {CALLER}\"}}', '2030-03-01T00:00:00+00:00')"
        ))
        .await;
        let erased_id = booked["metadata"]["appointment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        book(
            app,
            &admin,
            DEFAULT_CALENDAR,
            "2030-03-04T10:00:00-08:00",
            "Someone Else",
            OTHER_CALLER,
        )
        .await;
        // A call of that caller, with its transcript.
        let mut report = fixture("end-of-call-report.json");
        report["message"]["call"]["id"] = json!("privacy-call");
        report["message"]["call"]["customer"]["number"] = json!(CALLER);
        let response = app.post_vapi("/vapi/webhook", &report).await;
        assert_eq!(response.status(), 200);
        let before = appointments(app, &admin).await;
        assert!(before.to_string().contains(CALLER));

        // Staff may not; a bad number is named.
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/admin/privacy/erase-caller",
                Some(&staff),
                Some(&json!({"phone": CALLER})),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/admin/privacy/erase-caller",
                Some(&admin),
                Some(&json!({"phone": "not a number"})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["fields"][0]["field"], "phone");

        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/admin/privacy/erase-caller",
                Some(&admin),
                Some(&json!({"phone": "(415) 555-0166"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        // The kept answer that repeated the caller's number is deleted. (A
        // booking's own answer is not kept: the appointment answers a retry.)
        assert_eq!(body, json!({"appointments": 1, "calls": 1, "replies": 1}));
        // A late retry of that tool call does not repeat the first answer:
        // the appointment no longer matches it.
        let retried = app
            .tool_from(
                Some(CALLER),
                "privacy-book",
                "book_appointment",
                json!({"name": CALLER_NAME, "date": "2030-03-12", "time": "11:00", "email": CALLER_EMAIL, "purpose": "Winifred's knee"}),
            )
            .await;
        assert_ne!(retried, booked, "not a replay of the first answer");

        let after = appointments(app, &admin).await;
        assert_eq!(
            after.as_array().unwrap().len(),
            before.as_array().unwrap().len(),
            "rows are kept"
        );
        let text = after.to_string();
        for gone in [CALLER, CALLER_NAME, CALLER_EMAIL, "knee"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        let erased = after
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == erased_id.as_str())
            .unwrap();
        assert_eq!(erased["customer_name"], "Erased");
        assert!(erased["customer_email"].is_null(), "{erased}");
        assert!(erased["purpose"].is_null(), "{erased}");
        assert_eq!(erased["status"], "confirmed");
        assert!(text.contains(OTHER_CALLER), "other callers are untouched");
        let (status, one) = app
            .api(
                Method::GET,
                &format!("/api/v1/appointments/{erased_id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(one["customer_name"], "Erased");

        let (status, calls) = app
            .api(Method::GET, "/api/v1/calls?limit=200", Some(&admin), None)
            .await;
        assert_eq!(status, 200, "{calls}");
        let items = calls["items"].as_array().unwrap();
        let call = items
            .iter()
            .find(|c| c["vapi_call_id"] == "privacy-call")
            .unwrap();
        assert!(call["customer_phone"].is_null(), "{call}");
        assert!(call.get("transcript").is_none_or(Value::is_null), "{call}");
        assert!(
            call.get("recording_url").is_none_or(Value::is_null),
            "{call}"
        );
        assert!(call.get("summary").is_none_or(Value::is_null), "{call}");
        assert!(!calls.to_string().contains(CALLER));

        // The call's report delivered again, late: it brings none of the
        // caller's data back.
        let response = app.post_vapi("/vapi/webhook", &report).await;
        assert_eq!(response.status(), 200);
        let (status, calls) = app
            .api(Method::GET, "/api/v1/calls?limit=200", Some(&admin), None)
            .await;
        assert_eq!(status, 200, "{calls}");
        let call = calls["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["vapi_call_id"] == "privacy-call")
            .unwrap();
        assert!(call["customer_phone"].is_null(), "{call}");
        assert!(call.get("summary").is_none_or(Value::is_null), "{call}");
        assert!(call.get("transcript").is_none_or(Value::is_null), "{call}");
        assert!(!calls.to_string().contains(CALLER));

        // Recorded, with the number masked.
        let all = audit(app, &admin).await;
        let entry = all
            .iter()
            .find(|e| e["action"] == "privacy.erase_caller")
            .unwrap();
        assert_eq!(entry["detail"], "+1******0166: 1 appointments, 1 calls");
        assert!(!Value::Array(all.clone()).to_string().contains(CALLER));
    }
);
