//! The dashboard in a real Chromium, driven through WebDriver (chromedriver
//! and fantoccini): sign in, see a voice booking made seconds earlier, book
//! on behalf of a caller, reschedule and cancel from the pages, and the
//! phone-width layout without horizontal scrolling. Screenshots go to
//! `target/screenshots/`.
//!
//! Without Chromium and chromedriver the test prints SKIPPED and passes,
//! unless `REQUIRE_BROWSER=1` (as `.ci/run` sets), where it fails.

use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Db, TestApp, spawn};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Stops chromedriver (and the browser it started) when the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn available() -> bool {
    let found = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !found {
        if std::env::var("REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "SKIPPED: the browser tests need {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver); set REQUIRE_BROWSER=1 to make this a failure"
        );
    }
    found
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start_browser(profile: &Path) -> (Driver, Client) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("could not start a Chromium session: {last:?}");
}

/// The text of the first element matching `css` once it satisfies `ok`
/// (pages are loading after a click: stale and missing elements are retried).
async fn wait_for(client: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if ok(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css}: never as expected; last text {last:?}");
}

/// Waits until the first `css` element's text is `expected`.
async fn see(client: &Client, css: &str, expected: &str) {
    wait_for(client, css, |t| t == expected).await;
}

/// Waits until the first `css` element's text contains every one of `parts`.
async fn see_all(client: &Client, css: &str, parts: &[&str]) -> String {
    wait_for(client, css, |t| parts.iter().all(|p| t.contains(p))).await
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn set_width(client: &Client, width: u32, height: u32) {
    client.set_window_size(width, height).await.unwrap();
}

/// No horizontal scrolling at the current width.
async fn fits(client: &Client) -> bool {
    let answer = client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    answer.as_bool().unwrap_or(false)
}

async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn journey(app: &TestApp, client: &Client) {
    // A new installation: / leads to the first-run page.
    client.goto(&format!("{}/", app.address)).await.unwrap();
    see(client, "h1", "Welcome to Voice Scheduler").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/first-run");
    set_width(client, 375, 740).await;
    assert!(
        fits(client).await,
        "the first-run page scrolls sideways at 375 px"
    );
    set_width(client, 1280, 900).await;
    fill(client, "#name", "Ada Admin").await;
    fill(client, "#email", "admin@example.com").await;
    fill(client, "#password", ADMIN_PASSWORD).await;
    fill(client, "#confirm", "not the same password").await;
    click(client, "form.stack button[type=submit]").await;
    // The message is at its field, and what was typed (but no password) stays.
    see(
        client,
        "#confirm-error",
        "The two passwords are not the same.",
    )
    .await;
    let name = client.find(Locator::Css("#name")).await.unwrap();
    assert_eq!(
        name.prop("value").await.unwrap().as_deref(),
        Some("Ada Admin")
    );
    shot(client, "first-run-1280").await;
    fill(client, "#password", ADMIN_PASSWORD).await;
    fill(client, "#confirm", ADMIN_PASSWORD).await;
    click(client, "form.stack button[type=submit]").await;
    see_all(client, ".notice", &["Your administrator account is ready"]).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/");
    // Once there is an account, the first-run page is gone.
    client
        .goto(&format!("{}/first-run", app.address))
        .await
        .unwrap();
    // (to sign in, and on to the agenda since this browser is signed in)
    assert_eq!(client.current_url().await.unwrap().path(), "/");

    // A caller books by voice, seconds before staff look.
    let booked = app
        .tool(
            "voice-1",
            "book_appointment",
            json!({"name": "Ray Chan", "date": "2030-03-04", "time": "09:00", "purpose": "Consultation about a crown"}),
        )
        .await;
    assert!(booked.get("error").is_none(), "{booked}");
    // The new administrator sees it on the agenda.
    client
        .goto(&format!("{}/?date=2030-03-04", app.address))
        .await
        .unwrap();
    see_all(client, ".appts", &["Ray Chan", "Voice call"]).await;
    click(client, "header form button").await;
    see(client, ".notice", "You have signed out.").await;

    // A deep link while signed out leads through the sign-in form and back.
    client
        .goto(&format!("{}/?date=2030-03-04", app.address))
        .await
        .unwrap();
    see(client, "h1", "Sign in").await;
    set_width(client, 375, 740).await;
    shot(client, "sign-in-375").await;
    set_width(client, 1280, 900).await;
    fill(client, "#email", "admin@example.com").await;
    fill(client, "#password", ADMIN_PASSWORD).await;
    click(client, "form.stack button[type=submit]").await;
    see(client, "h1", "Monday 4 March 2030").await;
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/");
    assert_eq!(url.query(), Some("date=2030-03-04"));
    see_all(client, ".appts", &["Ray Chan", "Voice call", "09:00–09:30"]).await;

    // Book on behalf of a caller.
    click(client, "main p > a.button").await;
    see(client, "h1", "Book an appointment").await;
    click(
        client,
        "input[name=start][value='2030-03-04T19:00:00+00:00']",
    )
    .await;
    fill(client, "#name", "Bo Diaz").await;
    fill(client, "#phone", "(415) 555-0199").await;
    fill(client, "#purpose", "Cleaning").await;
    shot(client, "book-1280").await;
    click(client, "form.stack button[type=submit]").await;
    see(client, ".notice", "The appointment is booked.").await;
    see(client, "h1", "Bo Diaz").await;

    // Reschedule from its page.
    click(
        client,
        "input[name=start][value='2030-03-04T22:00:00+00:00']",
    )
    .await;
    click(client, "form[action$='/reschedule'] button[type=submit]").await;
    see(client, ".notice", "The appointment has been moved.").await;
    see_all(client, ".details", &["14:00–14:30"]).await;
    shot(client, "appointment-1280").await;

    // Cancel, after the confirmation page.
    click(client, "a.button.danger").await;
    see(client, "h1", "Cancel this appointment?").await;
    fill(client, "#reason", "Caller will phone back").await;
    click(client, "button.danger").await;
    see(client, ".notice", "The appointment has been cancelled.").await;

    // The agenda: the voice booking, the cancelled one struck through.
    client
        .goto(&format!("{}/?date=2030-03-04", app.address))
        .await
        .unwrap();
    see_all(client, ".appt.cancelled", &["Bo Diaz", "Cancelled"]).await;
    assert!(fits(client).await, "the agenda scrolls sideways at 1280 px");
    shot(client, "agenda-1280").await;
    client
        .goto(&format!("{}/?date=2030-03-04&view=week", app.address))
        .await
        .unwrap();
    shot(client, "agenda-week-1280").await;

    // Phone width: everything fits.
    set_width(client, 375, 812).await;
    client
        .goto(&format!("{}/?date=2030-03-04", app.address))
        .await
        .unwrap();
    assert!(fits(client).await, "the agenda scrolls sideways at 375 px");
    shot(client, "agenda-375").await;
    let id = client
        .find(Locator::Css(".appt:not(.cancelled)"))
        .await
        .unwrap()
        .attr("id")
        .await
        .unwrap()
        .unwrap();
    client
        .goto(&format!(
            "{}/appointment/{}",
            app.address,
            id.trim_start_matches("appt-")
        ))
        .await
        .unwrap();
    see(client, "h1", "Ray Chan").await;
    assert!(
        fits(client).await,
        "the appointment page scrolls sideways at 375 px"
    );
    shot(client, "appointment-375").await;

    // Calendar settings: a refused value is explained at its field.
    set_width(client, 1280, 900).await;
    client
        .goto(&format!("{}/settings", app.address))
        .await
        .unwrap();
    see(client, "h1", "Settings of “Appointments”").await;
    fill(client, "#working_hours", "mon 18:00-09:00").await;
    fill(client, "#slot_minutes", "0").await;
    click(client, "form.settings button[type=submit]").await;
    see(
        client,
        "#settings-error",
        "Nothing was saved: correct the fields marked below.",
    )
    .await;
    let message = wait_for(client, "#slot_minutes-error", |t| !t.is_empty()).await;
    wait_for(client, "#working_hours-error", |t| !t.is_empty()).await;
    // Right under its input (after its hint), which points at it (screen
    // readers read it).
    let placed = client
        .execute(
            "const i = document.getElementById('slot_minutes'), e = document.getElementById('slot_minutes-error');\n\
             const a = i.getBoundingClientRect(), b = e.getBoundingClientRect();\n\
             return i.getAttribute('aria-invalid') === 'true'\n\
               && i.getAttribute('aria-describedby').split(' ').includes('slot_minutes-error')\n\
               && e.closest('p.field') === i.closest('p.field')\n\
               && b.top >= a.bottom && b.top - a.bottom < 60 && Math.abs(b.left - a.left) < 4;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(placed, json!(true), "{message:?} is not at its field");
    let typed = client.find(Locator::Css("#working_hours")).await.unwrap();
    assert_eq!(
        typed.prop("value").await.unwrap().as_deref(),
        Some("mon 18:00-09:00")
    );
    set_width(client, 1280, 1650).await;
    shot(client, "settings-error-1280").await;
    set_width(client, 1280, 900).await;
    fill(client, "#working_hours", "mon-fri 09:00-17:00").await;
    fill(client, "#slot_minutes", "30").await;
    click(client, "form.settings button[type=submit]").await;
    see(client, ".notice", "The settings are saved.").await;
    set_width(client, 375, 812).await;
    assert!(
        fits(client).await,
        "the settings page scrolls sideways at 375 px"
    );
    shot(client, "settings-375").await;

    // The call the voice booking was made in: its report, then its page.
    set_width(client, 1280, 900).await;
    let mut report = crate::helpers::fixture("end-of-call-report.json");
    report["message"]["call"]["id"] = json!("call-e2e");
    report["message"]["call"]["customer"]["number"] = json!("+14155550100");
    report["message"]["startedAt"] = json!("2030-03-01T17:02:05.000Z");
    report["message"]["endedAt"] = json!("2030-03-01T17:04:41.000Z");
    report["message"]["analysis"]["summary"] =
        json!("Ray Chan booked a consultation about a crown for Monday 4 March at 9 AM.");
    report["message"]["artifact"]["transcript"] = json!(
        "AI: Thank you for calling Bright Smile Dental, how can I help?\n\
         User: Hi, I'd like to see someone about a crown <script>alert(1)</script>, Monday morning if possible.\n\
         AI: Monday 4 March at 9 AM is free. May I have your name?\n\
         User: Ray Chan.\n\
         AI: You're booked for Monday 4 March at 9 AM. Your confirmation code is on its way."
    );
    let response = app.post_vapi("/vapi/webhook", &report).await;
    assert_eq!(response.status(), 200);
    client
        .goto(&format!("{}/calls", app.address))
        .await
        .unwrap();
    see(client, "h1", "Calls").await;
    see_all(
        client,
        ".calls",
        &["+14155550100", "2 min 36 s", "Ray Chan booked"],
    )
    .await;
    shot(client, "calls-1280").await;
    click(client, ".calls a.time").await;
    see(client, "h1", "Call from +14155550100").await;
    see_all(
        client,
        ".transcript",
        &["Caller", "<script>alert(1)</script>", "Ray Chan."],
    )
    .await;
    see_all(client, "main .appts", &["Ray Chan", "09:00–09:30"]).await;
    let audio = client.find(Locator::Css("audio")).await.unwrap();
    assert_eq!(
        audio.attr("src").await.unwrap().as_deref(),
        Some("https://storage.example.com/recordings/7420f27a.wav")
    );
    assert!(
        fits(client).await,
        "the call page scrolls sideways at 1280 px"
    );
    // Tall windows: the whole page, down to the transcript.
    set_width(client, 1280, 1750).await;
    shot(client, "call-1280").await;
    set_width(client, 375, 812).await;
    client.refresh().await.unwrap();
    see(client, "h1", "Call from +14155550100").await;
    assert!(
        fits(client).await,
        "the call page scrolls sideways at 375 px"
    );
    set_width(client, 375, 2000).await;
    shot(client, "call-375").await;
    set_width(client, 375, 812).await;
    client
        .goto(&format!("{}/calls", app.address))
        .await
        .unwrap();
    assert!(
        fits(client).await,
        "the calls list scrolls sideways at 375 px"
    );

    // The audit log (administrators): this journey's sign-ins and changes.
    client
        .goto(&format!("{}/audit", app.address))
        .await
        .unwrap();
    see(client, "h1", "Audit log").await;
    see_all(client, ".audit", &["calendar.update", "auth.login"]).await;
    assert!(
        fits(client).await,
        "the audit log scrolls sideways at 375 px"
    );
    shot(client, "audit-375").await;
    set_width(client, 1280, 900).await;
    shot(client, "audit-1280").await;

    // Signing out ends the session; the agenda asks to sign in again.
    click(client, "header form button").await;
    see(client, ".notice", "You have signed out.").await;
    client.goto(&format!("{}/", app.address)).await.unwrap();
    see(client, "h1", "Sign in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_use_the_dashboard_in_chromium() {
    if !available() {
        return;
    }
    let app = spawn(Db::Sqlite, "browser", &[]).await.expect("sqlite");
    let profile = std::env::temp_dir().join(format!("vs-chromium-{}", uuid::Uuid::new_v4()));
    let (driver, client) = start_browser(&profile).await;
    // A failed step still closes the browser before the test fails.
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        AssertUnwindSafe(journey(&app, &client)).catch_unwind(),
    )
    .await;
    let _ = client.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    app.cleanup().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the browser journey did not finish within two minutes"),
    }
}
