//! The staff dashboard over HTTP: sign-in and its cookie, CSRF, deep links
//! without open redirects, tenancy (404), rendering, booking once, and the
//! browser sign-in ending with the server-side one.

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, STAFF_PASSWORD, TestApp};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";
/// Monday 4 March 2030, 10:00 in Los Angeles (the fixtures' calendar).
const MONDAY_10: &str = "2030-03-04T10:00:00-08:00";

/// A browser without JavaScript: keeps cookies, never follows redirects.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first hidden field `name`.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request;
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.app.address));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .post(format!("{}{path}", self.app.address))
            .form(form);
        self.send(request).await
    }

    /// Opens the sign-in form and submits it; the answer to the POST.
    pub async fn sign_in_to(&mut self, email: &str, password: &str, next: &str) -> Page {
        let form = self.get(&format!("/sign-in?next={next}")).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.field("csrf");
        let next = form.field("next");
        self.post(
            "/sign-in",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", &next),
            ],
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) {
        let page = self.sign_in_to(email, password, "").await;
        assert_eq!(page.status, 303, "{}", page.body);
    }

    /// The CSRF token of a signed-in page.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/").await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.field("csrf")
    }
}

fn set_cookies(page: &Page) -> Vec<String> {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Books through the API as `token` on `calendar`; the appointment's id.
async fn api_book(
    app: &TestApp,
    token: &str,
    calendar: &str,
    start: &str,
    purpose: &str,
) -> String {
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/appointments",
            Some(token),
            Some(&json!({
                "calendar_id": calendar,
                "start": start,
                "customer_name": "Ann O'Brien & Co",
                "customer_phone": "+14155550123",
                "purpose": purpose,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

on_both_backends!(
    signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it,
    &[],
    async |app: &TestApp| {
        app.admin_token().await;
        let mut browser = Browser::new(app);
        // Signed out: the agenda sends to the sign-in form.
        let page = browser.get("/").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in");
        // A wrong password: the form again, with the API's answer.
        let page = browser
            .sign_in_to("admin@example.com", "wrong password 1", "")
            .await;
        assert_eq!(page.status, 401);
        assert!(
            page.body
                .contains("The email address or password is wrong.")
        );
        assert!(
            page.headers
                .get("content-security-policy")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        // The right one: a session cookie with every flag.
        let page = browser
            .sign_in_to("admin@example.com", ADMIN_PASSWORD, "")
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), "/");
        let cookies = set_cookies(&page);
        let session = cookies
            .iter()
            .find(|c| c.starts_with("__Host-vs_session="))
            .unwrap_or_else(|| panic!("{cookies:?}"));
        for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(session.contains(flag), "{session}");
        }
        assert!(!session.contains("Domain"), "{session}");
        let value = session
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1;
        let (id, mac) = value.split_once('.').unwrap();
        assert!(
            uuid::Uuid::parse_str(id).is_ok() && mac.len() == 64,
            "{value}"
        );
        let kept = browser.cookies.clone();
        let page = browser.get("/").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("<h1>Friday 1 March 2030</h1>"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Now · 09:14"), "{}", page.body);
        // A forged MAC is no sign-in.
        let mut forged = Browser::new(app);
        forged.cookies = vec![(
            "__Host-vs_session".to_owned(),
            format!("{id}.{}", "0".repeat(64)),
        )];
        assert_eq!(forged.get("/").await.status, 303);

        // Signing out needs the page's token.
        let csrf = browser.csrf().await;
        assert_eq!(browser.post("/sign-out", &[]).await.status, 403);
        let wrong = browser
            .post("/sign-out", &[("csrf", &"ab".repeat(32))])
            .await;
        assert_eq!(wrong.status, 403);
        assert!(wrong.body.contains("The form has expired"));
        assert_eq!(browser.get("/").await.status, 200);
        let page = browser.post("/sign-out", &[("csrf", &csrf)]).await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in?done=signed-out");
        assert!(
            browser
                .cookies
                .iter()
                .all(|(k, _)| k != "__Host-vs_session")
        );
        // The old cookie no longer works: the sign-in ended on the server.
        let mut replay = Browser::new(app);
        replay.cookies = kept;
        assert_eq!(replay.get("/").await.status, 303);
    }
);

on_both_backends!(
    the_sign_in_form_needs_its_own_token,
    &[],
    async |app: &TestApp| {
        app.admin_token().await;
        let mut browser = Browser::new(app);
        let form = [
            ("email", "admin@example.com"),
            ("password", ADMIN_PASSWORD),
            ("next", "/"),
        ];
        // No pre-session cookie, no token: refused before any password check.
        let page = browser.post("/sign-in", &form).await;
        assert_eq!(page.status, 403);
        assert!(page.body.contains("<h1>The form has expired</h1>"));
        // With the cookie but another token.
        let csrf = browser.get("/sign-in").await.field("csrf");
        let mut bad = form.to_vec();
        bad.push(("csrf", "00"));
        assert_eq!(browser.post("/sign-in", &bad).await.status, 403);
        // Another browser's token does not fit this browser's cookie.
        let mut other = Browser::new(app);
        let theirs = other.get("/sign-in").await.field("csrf");
        assert_ne!(theirs, csrf);
        let mut crossed = form.to_vec();
        crossed.push(("csrf", &theirs));
        assert_eq!(browser.post("/sign-in", &crossed).await.status, 403);
        let mut good = form.to_vec();
        good.push(("csrf", &csrf));
        assert_eq!(browser.post("/sign-in", &good).await.status, 303);
    }
);

on_both_backends!(
    deep_links_come_back_after_signing_in_but_never_leave_the_site,
    &[],
    async |app: &TestApp| {
        app.admin_token().await;
        let mut browser = Browser::new(app);
        let page = browser.get("/book?date=2030-03-04").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in?next=/book%3Fdate%3D2030-03-04");
        let page = browser
            .sign_in_to(
                "admin@example.com",
                ADMIN_PASSWORD,
                "/book%3Fdate%3D2030-03-04",
            )
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/book?date=2030-03-04");
        for evil in [
            "//evil.example",
            "/%2Fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "%2F%5Cevil.example",
            "https://evil.example",
            "https:evil.example",
            "javascript:alert(1)",
            "/%252F%252Fevil.example",
            "%2F%09%2Fevil.example",
        ] {
            let mut browser = Browser::new(app);
            let page = browser
                .sign_in_to("admin@example.com", ADMIN_PASSWORD, evil)
                .await;
            assert_eq!(page.status, 303, "{evil}");
            assert_eq!(page.location(), "/", "{evil}");
            // The form does not even carry it.
            let form = browser.get(&format!("/sign-in?next={evil}")).await;
            assert!(!form.body.contains("evil.example"), "{evil}");
        }
    }
);

on_both_backends!(
    another_users_appointment_is_a_404_page,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        app.staff_token(&admin, "ann@example.com").await;
        let id = api_book(app, &admin, DEFAULT_CALENDAR, MONDAY_10, "checkup").await;
        let mut staff = Browser::new(app);
        staff.sign_in("ann@example.com", STAFF_PASSWORD).await;
        let csrf = staff.csrf().await;
        for path in [
            format!("/appointment/{id}"),
            format!("/appointment/{id}/cancel"),
            "/appointment/not-an-id".to_owned(),
            format!("/?calendar={DEFAULT_CALENDAR}"),
            format!("/book?calendar={DEFAULT_CALENDAR}"),
        ] {
            let page = staff.get(&path).await;
            assert_eq!(page.status, 404, "{path}");
            assert!(page.body.contains("<h1>Page not found</h1>"), "{path}");
            assert!(!page.body.contains("checkup"), "{path}");
        }
        let page = staff
            .post(&format!("/appointment/{id}/cancel"), &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, 404);
        let page = staff
            .post(
                &format!("/appointment/{id}/reschedule"),
                &[("csrf", &csrf), ("start", "2030-03-04T19:00:00Z")],
            )
            .await;
        assert_eq!(page.status, 404);
        // Staff without a calendar see what to do, not the administrator's.
        let page = staff.get("/").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("You have no calendar yet"),
            "{}",
            page.body
        );
        // The administrator sees it, unchanged.
        let mut owner = Browser::new(app);
        owner.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        let page = owner.get(&format!("/appointment/{id}")).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body
                .contains("<span class=\"tag ok\">Confirmed</span>")
        );
    }
);

on_both_backends!(
    a_cancelled_appointment_is_struck_through_and_caller_text_is_escaped,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let id = api_book(
            app,
            &admin,
            DEFAULT_CALENDAR,
            MONDAY_10,
            "<script>alert(1)</script>",
        )
        .await;
        let mut browser = Browser::new(app);
        browser.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        let page = browser.get("/?date=2030-03-04").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("<script>"), "{}", page.body);
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || page.body.contains("&lt;script&gt;"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Ann O&#39;Brien &#38; Co")
                || page.body.contains("Ann O&#x27;Brien &amp; Co"),
            "{}",
            page.body
        );
        assert!(page.body.contains("10:00–10:30"));
        assert!(page.body.contains("+14155550123"));
        assert!(page.body.contains(">Staff<"));
        // Cancel through the confirmation page.
        let confirm = browser.get(&format!("/appointment/{id}/cancel")).await;
        assert_eq!(confirm.status, 200);
        assert!(confirm.body.contains("Cancel this appointment?"));
        let csrf = confirm.field("csrf");
        let page = browser
            .post(
                &format!("/appointment/{id}/cancel"),
                &[("csrf", &csrf), ("reason", "caller asked")],
            )
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), format!("/appointment/{id}?done=cancelled"));
        let (_, body) = app
            .api(
                Method::GET,
                &format!("/api/v1/appointments/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(body["status"], "cancelled");
        assert_eq!(body["cancel_reason"], "caller asked");
        let page = browser.get("/?date=2030-03-04&view=week").await;
        assert!(
            page.body.contains("class=\"appt cancelled\""),
            "{}",
            page.body
        );
        assert!(page.body.contains("<s>10:00–10:30</s>"), "{}", page.body);
        assert!(page.body.contains(">Cancelled<"));
        let page = browser
            .get(&format!("/appointment/{id}?done=cancelled"))
            .await;
        assert!(page.body.contains("The appointment has been cancelled."));
        assert!(!page.body.contains("Reschedule"));
        // Cancelling again says so.
        let page = browser
            .post(&format!("/appointment/{id}/cancel"), &[("csrf", &csrf)])
            .await;
        assert_eq!(
            page.location(),
            format!("/appointment/{id}?done=already-cancelled")
        );
    }
);

on_both_backends!(
    a_double_submitted_booking_books_once_and_can_be_moved,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let mut browser = Browser::new(app);
        browser.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        let form = browser.get("/book?date=2030-03-04").await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("09:00–09:30"), "{}", form.body);
        let (csrf, key) = (form.field("csrf"), form.field("key"));
        let fields = [
            ("csrf", csrf.as_str()),
            ("key", key.as_str()),
            ("calendar", DEFAULT_CALENDAR),
            ("date", "2030-03-04"),
            ("start", "2030-03-04T17:00:00+00:00"),
            ("name", "Bo Diaz"),
            ("phone", "(415) 555-0199"),
            ("purpose", "cleaning"),
        ];
        let first = browser.post("/book", &fields).await;
        assert_eq!(first.status, 303, "{}", first.body);
        let second = browser.post("/book", &fields).await;
        assert_eq!(second.status, 303, "{}", second.body);
        assert_eq!(first.location(), second.location());
        let (_, list) = app
            .api(Method::GET, "/api/v1/appointments", Some(&admin), None)
            .await;
        let items: Vec<&Value> = list["items"].as_array().unwrap().iter().collect();
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(items[0]["customer_phone"], "+14155550199");
        let id = items[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(first.location(), format!("/appointment/{id}?done=booked"));
        // Without the token: refused, nothing booked.
        let mut without = fields.to_vec();
        without[0] = ("csrf", "");
        without[1] = ("key", "6f0e8a52-0d8c-4d4b-9d7e-8f3f0f0b1c2d");
        assert_eq!(browser.post("/book", &without).await.status, 403);
        // A refusal keeps the form and says why.
        let mut bad = fields.to_vec();
        bad[1] = ("key", "6f0e8a52-0d8c-4d4b-9d7e-8f3f0f0b1c2d");
        bad[6] = ("phone", "12");
        let page = browser.post("/book", &bad).await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains("Phone:"), "{}", page.body);
        assert!(page.body.contains("value=\"Bo Diaz\""));
        // Move it from its page's picker.
        let page = browser.get(&format!("/appointment/{id}")).await;
        assert!(
            page.body.contains("Free times on Monday 4 March 2030"),
            "{}",
            page.body
        );
        let csrf = page.field("csrf");
        let moved = browser
            .post(
                &format!("/appointment/{id}/reschedule"),
                &[("csrf", &csrf), ("start", "2030-03-04T21:00:00Z")],
            )
            .await;
        assert_eq!(moved.status, 303);
        assert_eq!(
            moved.location(),
            format!("/appointment/{id}?done=rescheduled")
        );
        let (_, body) = app
            .api(
                Method::GET,
                &format!("/api/v1/appointments/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(body["start"], "2030-03-04T13:00:00-08:00");
        // Outside the hours: back to the page with the reason.
        let refused = browser
            .post(
                &format!("/appointment/{id}/reschedule"),
                &[("csrf", &csrf), ("start", "2030-03-04T03:00:00Z")],
            )
            .await;
        assert_eq!(
            refused.location(),
            format!("/appointment/{id}?done=slot-taken")
        );
    }
);

on_both_backends!(
    a_password_change_sign_out_everywhere_or_account_deletion_ends_the_browser_sign_in,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let mut browser = Browser::new(app);
        browser.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        assert_eq!(browser.get("/").await.status, 200);
        let (status, body) = app
            .api(
                Method::POST,
                "/auth/password",
                Some(&admin),
                Some(&json!({"current_password": ADMIN_PASSWORD, "new_password": "a new password 2"})),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
        let page = browser.get("/").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in");

        let mut browser = Browser::new(app);
        browser
            .sign_in("admin@example.com", "a new password 2")
            .await;
        assert_eq!(browser.get("/").await.status, 200);
        let token = app.login("admin@example.com", "a new password 2").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) = app
            .api(Method::POST, "/auth/logout-all", Some(&token), None)
            .await;
        assert!(status.is_success());
        assert_eq!(browser.get("/").await.status, 303);

        // Deleting the account ends its browser sign-in as well.
        let token = app.login("admin@example.com", "a new password 2").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let staff = app.staff_token(&token, "ann@example.com").await;
        let mut browser = Browser::new(app);
        browser.sign_in("ann@example.com", STAFF_PASSWORD).await;
        assert_eq!(browser.get("/").await.status, 200);
        let (status, body) = app
            .api(Method::DELETE, "/api/v1/me", Some(&staff), None)
            .await;
        assert!(status.is_success(), "{status} {body}");
        let page = browser.get("/").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in");
    }
);

on_both_backends!(
    failed_dashboard_sign_ins_are_throttled_like_the_api,
    &[],
    async |app: &TestApp| {
        app.admin_token().await;
        let mut browser = Browser::new(app);
        for _ in 0..5 {
            let page = browser
                .sign_in_to("admin@example.com", "wrong password 1", "")
                .await;
            assert_eq!(page.status, 401);
        }
        // The account is throttled now, for the API and the dashboard alike.
        let page = browser
            .sign_in_to("admin@example.com", ADMIN_PASSWORD, "")
            .await;
        assert_eq!(page.status, 429, "{}", page.body);
        assert!(page.body.contains("Too many failed sign-ins"));
        let (status, _) = app
            .api(
                Method::POST,
                "/auth/login",
                None,
                Some(&json!({"email": "admin@example.com", "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, 429);
    }
);

on_both_backends!(
    plain_http_development_drops_the_secure_prefix,
    &[("WEB_COOKIE_SECURE", "false")],
    async |app: &TestApp| {
        app.admin_token().await;
        let mut browser = Browser::new(app);
        let page = browser
            .sign_in_to("admin@example.com", ADMIN_PASSWORD, "")
            .await;
        let cookies = set_cookies(&page);
        let session = cookies
            .iter()
            .find(|c| c.starts_with("vs_session="))
            .unwrap_or_else(|| panic!("{cookies:?}"));
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
        assert!(!session.contains("Secure"), "{session}");
        assert_eq!(browser.get("/").await.status, 200);
        // The stylesheet is ours, from our origin.
        let css = browser.get("/static/style.css").await;
        assert_eq!(css.status, 200);
        assert!(
            css.headers
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );
        // The JSON API keeps its paths and its JSON 404.
        let (status, body) = app.api(Method::GET, "/api/v1/nothing", None, None).await;
        assert_eq!(status, 404);
        assert!(body.is_object());
    }
);

/// The first-run form's fields, filled in.
fn first_run_form<'a>(csrf: &'a str, email: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", name),
        ("email", email),
        ("password", ADMIN_PASSWORD),
        ("confirm", ADMIN_PASSWORD),
    ]
}

on_both_backends!(
    the_first_run_page_creates_the_first_administrator_and_then_is_gone,
    &[],
    async |app: &TestApp| {
        let mut browser = Browser::new(app);
        // A new installation: / → sign in → the first-run page.
        let page = browser.get("/").await;
        assert_eq!(page.location(), "/sign-in");
        let page = browser.get("/sign-in").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/first-run");
        let page = browser.get("/first-run").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("<title>Welcome · Voice Scheduler</title>")
        );
        assert!(
            page.body
                .contains("<label for=\"email\">Email address</label>")
        );
        let csrf = page.field("csrf");
        // Another browser opens the form now and sends it too late.
        let mut late = Browser::new(app);
        let late_csrf = late.get("/first-run").await.field("csrf");
        // Without its token, or with another one: refused, nothing created.
        let mut no_token = first_run_form("", "owner@example.com", "Owner");
        no_token.remove(0);
        assert_eq!(browser.post("/first-run", &no_token).await.status, 403);
        let page = browser
            .post(
                "/first-run",
                &first_run_form(&"0".repeat(64), "owner@example.com", "Owner"),
            )
            .await;
        assert_eq!(page.status, 403);
        assert!(page.body.contains("<h1>The form has expired</h1>"));
        assert_eq!(browser.get("/first-run").await.status, 200);
        // Invalid fields: each message at its field, the typed text escaped.
        let page = browser
            .post(
                "/first-run",
                &[
                    ("csrf", &csrf),
                    ("name", "<script>alert(1)</script>"),
                    ("email", "not an address"),
                    ("password", "short"),
                    ("confirm", "other"),
                ],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(!page.body.contains("<script>alert(1)"));
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{}",
            page.body
        );
        for id in ["email", "password", "confirm"] {
            assert!(
                page.body.contains(&format!(
                    "aria-invalid=\"true\" aria-describedby=\"{id}-error\""
                )),
                "{id}: {}",
                page.body
            );
            assert!(page.body.contains(&format!("id=\"{id}-error\"")), "{id}");
        }
        assert!(page.body.contains("The two passwords are not the same."));
        assert!(page.body.contains("at least 8 characters"));
        // The password is never sent back.
        assert!(!page.body.contains("value=\"short\""));
        // A valid form: the administrator exists, signed in, on the agenda
        // of the calendar the server started with.
        let csrf = page.field("csrf");
        let page = browser
            .post(
                "/first-run",
                &first_run_form(&csrf, "owner@example.com", "Olive Owner"),
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), "/?done=welcome");
        assert!(
            set_cookies(&page)
                .iter()
                .any(|c| c.starts_with("__Host-vs_session=") && c.contains("HttpOnly"))
        );
        let agenda = browser.get("/?done=welcome").await;
        assert_eq!(agenda.status, 200, "{}", agenda.body);
        assert!(agenda.body.contains("Your administrator account is ready"));
        assert!(agenda.body.contains("Olive Owner"));
        assert!(agenda.body.contains(DEFAULT_CALENDAR), "{}", agenda.body);
        // It is an administrator, and the API knows its password.
        let token = app.login("owner@example.com", ADMIN_PASSWORD).await;
        let token = token["access_token"].as_str().unwrap();
        let (status, me) = app.api(Method::GET, "/auth/me", Some(token), None).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["role"], "admin", "{me}");
        // Afterwards the page is gone, for everyone.
        let mut other = Browser::new(app);
        let page = other.get("/first-run").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in?done=set-up");
        let page = other.get("/sign-in?done=set-up").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("already has an account"));
        // A form fetched before, sent after: nothing is created.
        let page = late
            .post(
                "/first-run",
                &first_run_form(&late_csrf, "late@example.com", "Late"),
            )
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in?done=set-up");
        let (status, _) = app
            .api(
                Method::POST,
                "/auth/login",
                None,
                Some(&json!({"email": "late@example.com", "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, 401);
    }
);

on_both_backends!(
    two_concurrent_first_runs_create_exactly_one_administrator,
    // Even with open registration the loser gets no (staff) account.
    &[("ALLOW_REGISTRATION", "true")],
    async |app: &TestApp| {
        let mut a = Browser::new(app);
        let mut b = Browser::new(app);
        let csrf_a = a.get("/first-run").await.field("csrf");
        let csrf_b = b.get("/first-run").await.field("csrf");
        let form_a = first_run_form(&csrf_a, "a@example.com", "Ada");
        let form_b = first_run_form(&csrf_b, "b@example.com", "Bea");
        let (page_a, page_b) =
            tokio::join!(a.post("/first-run", &form_a), b.post("/first-run", &form_b));
        let locations = [page_a.location().to_owned(), page_b.location().to_owned()];
        assert_eq!(
            locations
                .iter()
                .filter(|l| l.as_str() == "/?done=welcome")
                .count(),
            1,
            "{locations:?}"
        );
        assert_eq!(
            locations
                .iter()
                .filter(|l| l.as_str() == "/sign-in?done=set-up")
                .count(),
            1,
            "{locations:?}"
        );
        let mut signed_in = 0;
        for email in ["a@example.com", "b@example.com"] {
            let (status, _) = app
                .api(
                    Method::POST,
                    "/auth/login",
                    None,
                    Some(&json!({"email": email, "password": ADMIN_PASSWORD})),
                )
                .await;
            if status == 200 {
                signed_in += 1;
            }
        }
        assert_eq!(signed_in, 1);
    }
);

/// The VAPI call of `end-of-call-report.json`.
const CALL_ID: &str = "7420f27a-30fd-4f49-a995-5549ae7cc00d";

/// An end-of-call report for `call_id`, with `transcript` and `recording`.
fn call_report(call_id: &str, transcript: &str, recording: &str) -> Value {
    let mut body = crate::helpers::fixture("end-of-call-report.json");
    body["message"]["call"]["id"] = json!(call_id);
    body["message"]["artifact"]["transcript"] = json!(transcript);
    body["message"]["artifact"]["recordingUrl"] = json!(recording);
    body["message"]["analysis"]["summary"] = json!("Caller <b>Jane</b> booked a session.");
    body
}

async fn deliver(app: &TestApp, body: &Value) {
    let response = app.post_vapi("/vapi/webhook", body).await;
    assert_eq!(response.status(), 200);
}

/// Our id of the call VAPI knows as `vapi_call_id` (through the API).
async fn call_id(app: &TestApp, token: &str, vapi_call_id: &str) -> String {
    let (status, page) = app
        .api(Method::GET, "/api/v1/calls?limit=200", Some(token), None)
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vapi_call_id"] == vapi_call_id)
        .unwrap_or_else(|| panic!("{vapi_call_id}: {page}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

on_both_backends!(
    calls_are_listed_and_a_call_shows_its_transcript_as_text_and_its_booking,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        // Booked by voice during the call, then the end-of-call report.
        let booking = json!({"message": {
            "type": "tool-calls",
            "call": {"id": CALL_ID, "type": "inboundPhoneCall", "customer": {"number": "+14155550123"}},
            "toolCallList": [{"id": "tc-book", "type": "function", "function": {
                "name": "book_appointment",
                "arguments": {"name": "Jane Doe", "date": "2030-03-12", "time": "14:00", "purpose": "Discovery session"},
            }}],
        }});
        assert_eq!(app.post_vapi("/vapi/tools", &booking).await.status(), 200);
        deliver(
            app,
            &call_report(
                CALL_ID,
                "AI: Hi, this is the booking line.\nUser: <script>alert(1)</script> Tuesday at 2, please.",
                "https://storage.example.com/recordings/7420f27a.wav",
            ),
        )
        .await;
        deliver(
            app,
            &call_report("call-evil", "AI: Hello", "javascript:alert(1)"),
        )
        .await;
        let id = call_id(app, &admin, CALL_ID).await;
        let evil = call_id(app, &admin, "call-evil").await;

        let mut browser = Browser::new(app);
        browser.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        let list = browser.get("/calls").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(list.body.contains("<title>Calls · Voice Scheduler</title>"));
        assert!(list.body.contains(&format!("href=\"/call/{id}\"")));
        assert!(list.body.contains("+14155550123"));
        assert!(list.body.contains("3 min 27 s"), "{}", list.body);
        assert!(list.body.contains("customer ended call"));
        assert!(!list.body.contains("<b>Jane</b>"));
        assert!(
            list.body
                .contains("Caller &#60;b&#62;Jane&#60;/b&#62; booked")
        );

        let page = browser.get(&format!("/call/{id}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<h1>Call from +14155550123</h1>"));
        // Speaker turns, the caller's words as text.
        assert!(page.body.contains("<span class=\"speaker\">Assistant</span> <span class=\"said\">Hi, this is the booking line.</span>"));
        assert!(!page.body.contains("<script>"), "{}", page.body);
        assert!(page.body.contains(
            "<span class=\"speaker\">Caller</span> <span class=\"said\">&#60;script&#62;alert(1)&#60;/script&#62; Tuesday at 2, please.</span>"
        ));
        // The recording plays from VAPI's storage (allowed by the policy).
        assert!(page.body.contains(
            "<audio controls preload=\"none\" src=\"https://storage.example.com/recordings/7420f27a.wav\"></audio>"
        ));
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("media-src https:") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        // What was booked, linked; times in the calendar's zone.
        assert!(page.body.contains("Jane Doe"));
        assert!(page.body.contains("Tuesday 12 March 2030"));
        assert!(page.body.contains("href=\"/appointment/"));
        // …and the appointment's page links back to the call.
        let start = page.body.find("href=\"/appointment/").unwrap() + "href=\"".len();
        let end = page.body[start..].find('"').unwrap() + start;
        let appointment = browser.get(&page.body[start..end]).await;
        assert_eq!(appointment.status, 200);
        assert!(
            appointment.body.contains(&format!(
                "<a href=\"/call/{id}\">call <code>{CALL_ID}</code></a>"
            )),
            "{}",
            appointment.body
        );
        assert!(
            page.body.contains("Friday 1 March 2030, 09:14 PST"),
            "{}",
            page.body
        );
        // A recording address that is not https is neither played nor linked.
        let page = browser.get(&format!("/call/{evil}")).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("javascript:"), "{}", page.body);
        assert!(page.body.contains("No recording was sent for this call."));
        assert!(page.body.contains("Nothing was booked during this call."));

        // Not a call, or not one of yours: the 404 page.
        for path in [
            "/call/not-a-uuid".to_owned(),
            format!("/call/{}", uuid::Uuid::now_v7()),
        ] {
            let page = browser.get(&path).await;
            assert_eq!(page.status, 404, "{path}");
            assert!(page.body.contains("<h1>Page not found</h1>"));
        }
        let staff = app.staff_token(&admin, "ann@example.com").await;
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&staff),
                Some(&json!({"name": "Ann", "time_zone": "Europe/Paris"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let mut ann = Browser::new(app);
        ann.sign_in("ann@example.com", STAFF_PASSWORD).await;
        let page = ann.get(&format!("/call/{id}")).await;
        assert_eq!(page.status, 404);
        assert!(page.body.contains("<h1>Page not found</h1>"));
        assert!(!page.body.contains("Jane"));
        let page = ann.get("/calls").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(&id));
        assert!(page.body.contains("No calls yet."));
        let page = ann
            .get(&format!("/calls?calendar={DEFAULT_CALENDAR}"))
            .await;
        assert_eq!(page.status, 404);
    }
);

on_both_backends!(
    the_calls_list_pages_newest_first,
    &[],
    async |app: &TestApp| {
        app.admin_token().await;
        for n in 0..27 {
            let mut body = call_report(&format!("call-{n:02}"), "AI: Hi", "");
            body["message"]["startedAt"] = json!(format!("2030-03-01T10:{n:02}:00Z"));
            body["message"]["endedAt"] = json!(format!("2030-03-01T10:{n:02}:30Z"));
            deliver(app, &body).await;
        }
        let mut browser = Browser::new(app);
        browser.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        let first = browser.get("/calls").await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body.matches("class=\"appt call\"").count(), 25);
        // Newest first: 10:26 UTC is 02:26 in Los Angeles.
        let newest = first.body.find("02:26 PST").unwrap();
        let older = first.body.find("02:25 PST").unwrap();
        assert!(newest < older);
        assert!(!first.body.contains("02:01 PST"));
        assert!(first.body.contains("30 s"));
        let marker = "href=\"/calls?calendar=";
        let start = first.body.find(marker).expect("a next page") + "href=\"".len();
        let end = first.body[start..].find('"').unwrap() + start;
        let next = first.body[start..end].replace("&#38;", "&");
        assert!(next.contains("&before="), "{next}");
        let second = browser.get(&next).await;
        assert_eq!(second.status, 200, "{}", second.body);
        assert_eq!(second.body.matches("class=\"appt call\"").count(), 2);
        assert!(second.body.contains("02:01 PST") && second.body.contains("02:00 PST"));
        assert!(second.body.contains("← Newest"));
        assert!(!second.body.contains("Older calls"));
        assert_eq!(browser.get("/calls?before=garbage").await.status, 400);
    }
);

/// The settings form of `calendar` as it is, with `changes` applied.
async fn settings_form(
    browser: &mut Browser<'_>,
    calendar: &str,
    changes: &[(&str, &str)],
) -> Vec<(String, String)> {
    let page = browser.get(&format!("/calendar/{calendar}/settings")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mut form: Vec<(String, String)> = [
        "csrf",
        "name",
        "time_zone",
        "working_hours",
        "slot_minutes",
        "default_duration_minutes",
        "min_notice_minutes",
        "horizon_days",
        "buffer_minutes",
    ]
    .iter()
    .map(|f| (f.to_string(), page.field(f).replace("&#38;", "&")))
    .collect();
    for (k, v) in changes {
        match form.iter_mut().find(|(f, _)| f == k) {
            Some(entry) => entry.1 = v.to_string(),
            None => form.push((k.to_string(), v.to_string())),
        }
    }
    form
}

async fn post_settings(
    browser: &mut Browser<'_>,
    calendar: &str,
    form: &[(String, String)],
) -> Page {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser
        .post(&format!("/calendar/{calendar}/settings"), &form)
        .await
}

on_both_backends!(
    calendar_settings_are_the_apis_with_each_message_at_its_field,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let mut browser = Browser::new(app);
        browser.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        let page = browser.get("/settings").await;
        assert_eq!(page.status, 303);
        assert_eq!(
            page.location(),
            format!("/calendar/{DEFAULT_CALENDAR}/settings")
        );
        let page = browser.get(page.location()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("<label for=\"working_hours\">Working hours</label>")
        );
        assert_eq!(page.field("time_zone"), "America/Los_Angeles");
        assert_eq!(page.field("working_hours"), "mon-fri 09:00-17:00");
        assert_eq!(page.field("slot_minutes"), "30");
        assert!(
            page.body
                .contains("Google Calendar is not set up on this server")
        );

        // The API's messages for the same values.
        let bad = json!({"time_zone": "Mars/Olympus", "working_hours": "mon 18:00-09:00", "slot_minutes": 0, "horizon_days": 100000});
        let (status, api) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}"),
                Some(&admin),
                Some(&bad),
            )
            .await;
        assert_eq!(status, 422, "{api}");
        let form = settings_form(
            &mut browser,
            DEFAULT_CALENDAR,
            &[
                ("time_zone", "Mars/Olympus"),
                ("working_hours", "mon 18:00-09:00"),
                ("slot_minutes", "0"),
                ("horizon_days", "100000"),
                ("buffer_minutes", "ten"),
            ],
        )
        .await;
        let page = post_settings(&mut browser, DEFAULT_CALENDAR, &form).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("Enter a whole number of minutes."));
        // A field that is not a number is found before the service is asked.
        let mut form = form;
        form.retain(|(k, _)| k != "buffer_minutes");
        form.push(("buffer_minutes".to_owned(), "0".to_owned()));
        let page = post_settings(&mut browser, DEFAULT_CALENDAR, &form).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("Nothing was saved"));
        let problems = api["error"]["fields"]
            .as_array()
            .or_else(|| api["error"]["details"].as_array())
            .or_else(|| api["fields"].as_array())
            .unwrap_or_else(|| panic!("{api}"))
            .clone();
        assert_eq!(problems.len(), 4, "{api}");
        for problem in problems {
            let field = problem["field"].as_str().unwrap();
            let message = problem["message"].as_str().unwrap();
            // At the field: the input points at its message, which is the API's.
            assert!(
                page.body.contains(&format!(
                    "aria-invalid=\"true\" aria-describedby=\"{field}-error"
                )),
                "{field}: {}",
                page.body
            );
            let at_field = format!("<span class=\"field-error\" id=\"{field}-error\">");
            let start = page
                .body
                .find(&at_field)
                .unwrap_or_else(|| panic!("{field}"))
                + at_field.len();
            let shown = &page.body[start..start + page.body[start..].find("</span>").unwrap()];
            let shown = shown
                .replace("&#39;", "'")
                .replace("&#34;", "\"")
                .replace("&#38;", "&");
            // The API's message, without the field's name in front.
            let shown = shown.trim_end_matches('.').to_lowercase();
            assert!(
                shown.len() > 10 && message.to_lowercase().ends_with(&shown),
                "{field}: {shown:?} vs {message:?}"
            );
        }
        // What was typed stays in the form; nothing changed.
        assert_eq!(page.field("time_zone"), "Mars/Olympus");
        let (_, calendar) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(calendar["time_zone"], "America/Los_Angeles");

        // Without this sign-in's token: refused, nothing changed.
        let mut form =
            settings_form(&mut browser, DEFAULT_CALENDAR, &[("slot_minutes", "15")]).await;
        form.retain(|(k, _)| k != "csrf");
        let page = post_settings(&mut browser, DEFAULT_CALENDAR, &form).await;
        assert_eq!(page.status, 403);
        form.push(("csrf".to_owned(), "0".repeat(64)));
        assert_eq!(
            post_settings(&mut browser, DEFAULT_CALENDAR, &form)
                .await
                .status,
            403
        );

        // Saved through the service: the API sees it; the name is escaped.
        let form = settings_form(
            &mut browser,
            DEFAULT_CALENDAR,
            &[
                ("name", "Front desk <script>alert(1)</script>"),
                ("working_hours", "mon-sat 08:00-12:00"),
                ("slot_minutes", "15"),
                ("buffer_minutes", "5"),
                ("vapi_assistant_ids", "asst-main, asst-2"),
            ],
        )
        .await;
        let page = post_settings(&mut browser, DEFAULT_CALENDAR, &form).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(
            page.location(),
            format!("/calendar/{DEFAULT_CALENDAR}/settings?done=saved")
        );
        let (_, calendar) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(
            calendar["working_hours"], "mon-sat 08:00-12:00",
            "{calendar}"
        );
        assert_eq!(calendar["slot_minutes"], 15);
        assert_eq!(calendar["buffer_minutes"], 5);
        assert_eq!(
            calendar["vapi_assistant_ids"],
            json!(["asst-2", "asst-main"])
        );
        let page = browser.get(page.location()).await;
        assert!(page.body.contains("The settings are saved."));
        assert!(!page.body.contains("<script>alert"));
        assert!(page.body.contains("Front desk &#60;script&#62;"));

        // Staff: another's calendar is a 404 page; their own has no VAPI
        // fields to change, and sending them changes nothing.
        let staff = app.staff_token(&admin, "ann@example.com").await;
        let (status, own) = app
            .api(
                Method::POST,
                "/api/v1/calendars",
                Some(&staff),
                Some(&json!({"name": "Ann", "time_zone": "Europe/Paris"})),
            )
            .await;
        assert_eq!(status, 201, "{own}");
        let own = own["id"].as_str().unwrap();
        let mut ann = Browser::new(app);
        ann.sign_in("ann@example.com", STAFF_PASSWORD).await;
        let page = ann
            .get(&format!("/calendar/{DEFAULT_CALENDAR}/settings"))
            .await;
        assert_eq!(page.status, 404);
        assert!(page.body.contains("<h1>Page not found</h1>"));
        let csrf = ann.csrf().await;
        let page = ann
            .post(
                &format!("/calendar/{DEFAULT_CALENDAR}/settings"),
                &[("csrf", &csrf), ("name", "Mine now"), ("time_zone", "UTC")],
            )
            .await;
        assert_eq!(page.status, 404);
        let page = ann.get(&format!("/calendar/{own}/settings")).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("name=\"vapi_assistant_ids\""));
        assert!(
            page.body
                .contains("Only an administrator changes which calls reach this calendar.")
        );
        let form = settings_form(
            &mut ann,
            own,
            &[
                ("vapi_assistant_ids", "asst-stolen"),
                ("slot_minutes", "20"),
            ],
        )
        .await;
        let page = post_settings(&mut ann, own, &form).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, calendar) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{own}"),
                Some(&staff),
                None,
            )
            .await;
        assert_eq!(calendar["slot_minutes"], 20);
        assert_eq!(calendar["vapi_assistant_ids"], json!([]));
    }
);

on_both_backends!(
    the_audit_log_is_for_administrators_filtered_and_paged,
    &[("RATE_LIMIT_LOGIN_PER_MINUTE", "1000")],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        // Signed in before the failures below lock this client address out.
        let mut browser = Browser::new(app);
        browser.sign_in("admin@example.com", ADMIN_PASSWORD).await;
        app.staff_token(&admin, "ann@example.com").await;
        let mut ann = Browser::new(app);
        ann.sign_in("ann@example.com", STAFF_PASSWORD).await;
        // 52 failed sign-ins (unknown addresses: no backoff), all audited.
        for n in 0..52 {
            let (status, _) = app
                .api(
                    Method::POST,
                    "/auth/login",
                    None,
                    Some(&json!({"email": format!("nobody{n}@example.com"), "password": "wrong password"})),
                )
                .await;
            assert!(status == 401 || status == 429, "{status}");
        }
        let page = browser.get("/audit").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("<title>Audit log · Voice Scheduler</title>")
        );
        assert!(page.body.contains("<a href=\"/audit\">Audit log</a>"));
        assert_eq!(page.body.matches("<li class=\"entry\">").count(), 50);
        // Newest first: the failed sign-ins, by nobody in particular.
        let first = page.body.find("<li class=\"entry\">").unwrap();
        let entry = &page.body[first..first + page.body[first..].find("</li>").unwrap()];
        assert!(
            entry.contains("auth.login") && entry.contains(">failure</span>"),
            "{entry}"
        );
        assert!(entry.contains("by anonymous"), "{entry}");
        // The next page, and back.
        let marker = "href=\"/audit?action=";
        let start = page.body.rfind(marker).expect("a next page") + "href=\"".len();
        let end = page.body[start..].find('"').unwrap() + start;
        let next = page.body[start..end].replace("&#38;", "&");
        assert!(next.contains("&before="), "{next}");
        let older = browser.get(&next).await;
        assert_eq!(older.status, 200, "{}", older.body);
        assert!(older.body.matches("<li class=\"entry\">").count() >= 5);
        assert!(older.body.contains("← Newest"));
        // The oldest: the administrator signing in, named.
        assert!(
            older.body.contains("by Test User (admin@example.com)"),
            "{}",
            older.body
        );
        // Filters: outcome and action; typed text comes back escaped.
        let failures = browser
            .get("/audit?outcome=failure&action=auth.login")
            .await;
        assert_eq!(failures.status, 200);
        assert!(
            failures
                .body
                .contains("<option value=\"failure\" selected>")
        );
        assert!(!failures.body.contains(">success</span>"));
        assert!(failures.body.contains(">failure</span>"));
        let none = browser
            .get("/audit?action=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            .await;
        assert_eq!(none.status, 200);
        assert!(none.body.contains("No entries match."));
        assert!(!none.body.contains("<script>"));
        assert!(
            none.body
                .contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62;\"")
        );
        assert_eq!(browser.get("/audit?before=nonsense").await.status, 400);

        // Staff: the 403 page, and no link to it.
        let page = ann.get("/audit").await;
        assert_eq!(page.status, 403);
        assert!(page.body.contains("<h1>Administrators only</h1>"));
        assert!(!page.body.contains("auth.login"));
        let agenda = ann.get("/").await;
        assert!(!agenda.body.contains("href=\"/audit\""));
        // Signed out: to sign in, and back.
        let page = Browser::new(app).get("/audit").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), "/sign-in?next=/audit");
    }
);
