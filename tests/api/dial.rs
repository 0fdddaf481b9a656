//! Calling out through VAPI, against a local fake VAPI that our real client
//! (reqwest) talks to: success, VAPI's 400, its 500, a timeout, no key; the
//! browser test call; the tool definitions.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";
const API_KEY: &str = "private-key-0123456789";

/// What the fake VAPI received: (path, Authorization header, body).
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Starts the fake VAPI on a free port; its address and what it saw.
fn fake_vapi() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/call", web::post().to(call))
            .route("/call/web", web::post().to(web_call))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (address, seen)
}

fn remember(seen: &Seen, request: &HttpRequest, body: &Value) {
    let auth = request
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    seen.lock()
        .unwrap()
        .push((request.path().to_owned(), auth, body.clone()));
}

async fn call(seen: web::Data<Seen>, request: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    remember(&seen, &request, &body);
    match body["customer"]["number"].as_str().unwrap_or_default() {
        "+14155550400" => HttpResponse::BadRequest().json(json!({
            "message": ["customer.number must be a valid phone number in the E.164 format"],
            "error": "Bad Request", "statusCode": 400})),
        "+14155550500" => HttpResponse::InternalServerError().json(json!({"message": "boom"})),
        "+14155550999" => {
            tokio::time::sleep(Duration::from_secs(15)).await;
            HttpResponse::Created().json(json!({"id": "too-late", "status": "queued"}))
        }
        _ => HttpResponse::Created().json(json!({
            "id": "vapi-call-out-1", "status": "queued", "type": "outboundPhoneCall"})),
    }
}

async fn web_call(
    seen: web::Data<Seen>,
    request: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    remember(&seen, &request, &body);
    HttpResponse::Created().json(json!({
        "id": "vapi-web-1", "webCallUrl": "https://vapi.daily.co/room-1", "type": "webCall"}))
}

async fn place(app: &TestApp, token: &str, number: &str) -> (reqwest::StatusCode, Value) {
    app.api(
        Method::POST,
        "/api/v1/calls",
        Some(token),
        Some(&json!({"calendar_id": DEFAULT_CALENDAR, "customer_number": number, "customer_name": "Ann Lee"})),
    )
    .await
}

async fn route_default_calendar(app: &TestApp, admin: &str) {
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v1/calendars/{DEFAULT_CALENDAR}"),
            Some(admin),
            Some(&json!({"vapi_assistant_ids": ["asst-1"], "vapi_phone_number_ids": ["pn-1"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_calls_go_through_vapi_and_its_errors_are_ours_to_explain() {
    let (vapi, seen) = fake_vapi();
    let app = crate::helpers::spawn(
        crate::helpers::Db::Sqlite,
        "dial",
        &[("VAPI_BASE_URL", vapi.as_str()), ("VAPI_API_KEY", API_KEY)],
    )
    .await
    .unwrap();
    let admin = app.admin_token().await;

    // The calendar has no assistant yet: named.
    let (status, body) = place(&app, &admin, "(415) 555-0123").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "calendar_id");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent to VAPI");

    route_default_calendar(&app, &admin).await;
    let (status, placed) = place(&app, &admin, "(415) 555-0123").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["vapi_call_id"], "vapi-call-out-1");
    assert_eq!(placed["status"], "queued");
    assert_eq!(placed["customer_number"], "+14155550123");
    {
        let seen = seen.lock().unwrap();
        let (path, auth, body) = seen.last().unwrap();
        assert_eq!(path, "/call");
        assert_eq!(auth, &format!("Bearer {API_KEY}"));
        assert_eq!(body["assistantId"], "asst-1");
        assert_eq!(body["phoneNumberId"], "pn-1");
        assert_eq!(
            body["customer"],
            json!({"number": "+14155550123", "name": "Ann Lee"})
        );
    }
    // Recorded as an outbound call of the calendar.
    let (status, calls) = app
        .api(Method::GET, "/api/v1/calls", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{calls}");
    let recorded = calls["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vapi_call_id"] == "vapi-call-out-1")
        .unwrap_or_else(|| panic!("not recorded: {calls}"));
    assert_eq!(recorded["direction"], "outbound");
    assert_eq!(recorded["calendar_id"], DEFAULT_CALENDAR);

    // VAPI's 400 is a clear 422 with its message, not our 500.
    let (status, body) = place(&app, &admin, "+1 415 555 0400").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "vapi_rejected");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("E.164"),
        "{body}"
    );
    // VAPI's 500: 502.
    let (status, body) = place(&app, &admin, "+1 415 555 0500").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    // No answer: 502 after the client's timeout, not a hung request.
    let started = Instant::now();
    let (status, body) = place(&app, &admin, "+1 415 555 0999").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );
    // A number we cannot read never reaches VAPI.
    let before = seen.lock().unwrap().len();
    let (status, body) = place(&app, &admin, "12").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "customer_number");
    assert_eq!(seen.lock().unwrap().len(), before);

    // Another user's calendar: 404; anonymous: 401.
    let staff = app.staff_token(&admin, "bob@example.com").await;
    let (status, _) = place(&app, &staff, "(415) 555-0123").await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/calls",
            None,
            Some(&json!({"calendar_id": DEFAULT_CALENDAR, "customer_number": "4155550123"})),
        )
        .await;
    assert_eq!(status, 401);

    // The browser test call of the original service.
    let (status, web) = app
        .api(Method::POST, "/call/start", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{web}");
    assert_eq!(
        web,
        json!({"call_id": "vapi-web-1", "assistant_id": "asst-1", "web_call_url": "https://vapi.daily.co/room-1"})
    );
    let (status, _) = app.api(Method::POST, "/call/start", None, None).await;
    assert_eq!(status, 401);

    // The tool definitions for this calendar.
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
    let tools = tools.as_array().unwrap();
    assert_eq!(tools.len(), 6);
    assert_eq!(tools[1]["function"]["name"], "book_appointment");
    assert_eq!(
        tools[1]["server"]["url"],
        "https://s.example.com/vapi/tools?calendar=default"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_api_key_calling_out_is_refused_as_not_configured() {
    let app = crate::helpers::spawn(crate::helpers::Db::Sqlite, "dial_off", &[])
        .await
        .unwrap();
    let admin = app.admin_token().await;
    route_default_calendar(&app, &admin).await;
    let (status, body) = place(&app, &admin, "(415) 555-0123").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("VAPI_API_KEY")
    );
    app.cleanup().await;
}

#[test]
fn the_tools_command_prints_every_tool_for_the_given_address() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voice-scheduler"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args([
            "vapi",
            "tools",
            "--base-url",
            "https://scheduler.example.com",
            "--calendar",
            "dr-lee",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tools: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "check_availability",
            "book_appointment",
            "list_services",
            "find_appointments",
            "cancel_appointment",
            "reschedule_appointment"
        ]
    );
    assert_eq!(
        tools[0]["server"]["url"],
        "https://scheduler.example.com/vapi/tools?calendar=dr-lee"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("vapi secret"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_voice-scheduler"))
        .env_clear()
        .args(["vapi", "tools", "--base-url", "scheduler.example.com"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
