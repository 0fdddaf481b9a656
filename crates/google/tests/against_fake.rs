//! The real OAuth client (reqwest) and the real Calendar client
//! (google-calendar3 over hyper) against the fake Google on 127.0.0.1.

use std::time::Duration;

use anyhow::{Context, ensure};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use voice_scheduler_domain::appointment::{AppointmentParts, AppointmentStatus};
use voice_scheduler_domain::{
    Appointment, AppointmentId, BookedBy, CalendarId, Channel, ConfirmationCode, Email, PersonName,
    PhoneNumber, TimeRange, TimeZoneId,
};
use voice_scheduler_fake_google::FakeGoogle;
use voice_scheduler_google::{
    ApiError, CalendarApi, OAuthClient, OAuthError, SCOPES, SendUpdates, code_challenge, event_for,
    event_id,
};

const REDIRECT: &str = "http://127.0.0.1:9/oauth/google/callback";
/// A calendar id with characters that must be escaped in a URL path.
const CALENDAR: &str = "c_team#1/a?b@group.calendar.google.com";

fn oauth(google: &FakeGoogle) -> anyhow::Result<OAuthClient> {
    OAuthClient::new(
        google.client_id().to_owned(),
        google.client_secret().to_owned(),
        REDIRECT.to_owned(),
        google.endpoints(),
    )
}

fn at(hour: u32, minute: u32) -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2030, 3, 4, hour, minute, 0)
        .single()
        .context("valid time")
}

fn range(from: (u32, u32), to: (u32, u32)) -> anyhow::Result<TimeRange> {
    Ok(TimeRange::new(at(from.0, from.1)?, at(to.0, to.1)?)?)
}

fn appointment(
    id: AppointmentId,
    range: TimeRange,
    email: Option<&str>,
) -> anyhow::Result<Appointment> {
    Ok(Appointment::from_parts(AppointmentParts {
        id,
        calendar_id: CalendarId::new(),
        confirmation_code: ConfirmationCode::parse("K7M2QX")?,
        range,
        time_zone: TimeZoneId::parse("America/New_York")?,
        status: AppointmentStatus::Confirmed,
        customer_name: PersonName::parse("Ada Lovelace")?,
        customer_phone: PhoneNumber::from_e164("+14155550123")?,
        customer_email: email.map(Email::parse).transpose()?,
        purpose: Some("Dental cleaning".to_owned()),
        booked_by: BookedBy {
            channel: Channel::Voice,
            vapi_call_id: None,
            tool_call_id: None,
        },
        idempotency_key: None,
        created_at: range.start(),
        updated_at: range.start(),
        cancelled_at: None,
        cancel_reason: None,
        service: None,
    }))
}

/// A fake Google, a calendar client for it and a valid access token.
async fn calendar() -> anyhow::Result<(FakeGoogle, CalendarApi, String)> {
    let google = FakeGoogle::start().await?;
    let api = CalendarApi::new(&google.endpoints())?;
    let token = google.issue_access_token();
    Ok((google, api, token))
}

fn google_error(code: u16, reason: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": reason,
        "errors": [{"domain": "usageLimits", "reason": reason, "message": reason}]}})
}

// ----- OAuth -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_url_carries_every_parameter_and_leads_to_a_code() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    google.set_redirect_uri(REDIRECT);
    let client = oauth(&google)?;
    let verifier = "a-code-verifier-of-at-least-43-characters-0123456789";
    let consent = reqwest::Url::parse(&client.consent_url("state-123", verifier))?;
    ensure!(consent.as_str().starts_with(&google.endpoints().auth_url));
    let pairs: std::collections::HashMap<String, String> =
        consent.query_pairs().into_owned().collect();
    for (name, value) in [
        ("client_id", google.client_id()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", &SCOPES.join(" ")),
        ("state", "state-123"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
        ("code_challenge", &code_challenge(verifier)),
        ("code_challenge_method", "S256"),
    ] {
        ensure!(
            pairs.get(name).map(String::as_str) == Some(value),
            "{name}: {pairs:?}"
        );
    }

    // The fake consents at once and sends the browser back with a code.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let answer = browser.get(consent).send().await?;
    ensure!(answer.status() == 302, "{}", answer.status());
    let location = answer
        .headers()
        .get("location")
        .context("a redirect")?
        .to_str()?;
    let back = reqwest::Url::parse(location)?;
    ensure!(back.as_str().starts_with(REDIRECT), "{back}");
    let back: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    ensure!(back["state"] == "state-123");
    let granted = client.exchange_code(&back["code"], Some(verifier)).await?;
    ensure!(granted.refresh_token.is_some());
    Ok(())
}

/// Consents with `verifier`'s challenge; the code Google sends back.
async fn consented_code(client: &OAuthClient, verifier: &str) -> anyhow::Result<String> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let answer = browser
        .get(client.consent_url("state-1", verifier))
        .send()
        .await?;
    let location = answer
        .headers()
        .get("location")
        .context("a redirect")?
        .to_str()?;
    reqwest::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("a code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_needs_the_verifier_of_its_challenge() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    let client = oauth(&google)?;
    let verifier = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for (sent, why) in [
        (None, "Missing code verifier"),
        (
            Some("fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"),
            "Invalid code verifier",
        ),
    ] {
        let code = consented_code(&client, verifier).await?;
        let error = client
            .exchange_code(&code, sent)
            .await
            .err()
            .context("refused")?;
        ensure!(
            matches!(&error, OAuthError::Rejected(m) if m.contains("invalid_grant") && m.contains(why)),
            "{error:?}"
        );
        ensure!(!error.to_string().contains(verifier), "{error}");
    }
    let code = consented_code(&client, verifier).await?;
    let granted = client.exchange_code(&code, Some(verifier)).await?;
    ensure!(granted.refresh_token.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_exchanged_once_for_a_refresh_token() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    google.set_redirect_uri(REDIRECT);
    let client = oauth(&google)?;
    let code = google.issue_code();
    let granted = client.exchange_code(&code, None).await?;
    ensure!(granted.expires_in == 3600);
    ensure!(granted.scope.as_deref() == Some(SCOPES.join(" ").as_str()));
    let refresh_token = granted.refresh_token.clone().context("a refresh token")?;
    // The access token works against the API.
    let api = CalendarApi::new(&google.endpoints())?;
    api.free_busy(&granted.access_token, CALENDAR, range((9, 0), (17, 0))?)
        .await?;

    // A reused code is refused, and the message carries no code or secret.
    let error = client
        .exchange_code(&code, None)
        .await
        .err()
        .context("a reused code must fail")?;
    ensure!(matches!(error, OAuthError::Rejected(_)), "{error:?}");
    let text = error.to_string();
    ensure!(text.contains("invalid_grant"), "{text}");
    ensure!(
        !text.contains(&code) && !text.contains(google.client_secret()),
        "{text}"
    );

    // The exchange posted everything in the body, nothing in the query.
    for request in google.requests().iter().filter(|r| r.path == "/token") {
        ensure!(request.query.is_empty(), "{request:?}");
    }
    ensure!(!refresh_token.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_or_redirect_is_rejected() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    let wrong = OAuthClient::new(
        google.client_id().to_owned(),
        "not-the-secret".to_owned(),
        REDIRECT.to_owned(),
        google.endpoints(),
    )?;
    let error = wrong
        .exchange_code(&google.issue_code(), None)
        .await
        .err()
        .context("fails")?;
    ensure!(
        matches!(&error, OAuthError::Rejected(m) if m.contains("invalid_client")),
        "{error:?}"
    );
    ensure!(!error.to_string().contains("not-the-secret"));

    google.set_redirect_uri("https://elsewhere.example/callback");
    let error = oauth(&google)?
        .exchange_code(&google.issue_code(), None)
        .await
        .err()
        .context("fails")?;
    ensure!(
        matches!(&error, OAuthError::Rejected(m) if m.contains("redirect_uri_mismatch")),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_gives_new_access_tokens_until_the_grant_is_revoked() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    let client = oauth(&google)?;
    let api = CalendarApi::new(&google.endpoints())?;
    let refresh_token = google.issue_refresh_token();

    let first = client.refresh(&refresh_token).await?;
    let second = client.refresh(&refresh_token).await?;
    ensure!(first.token != second.token && first.expires_in == 3600);
    ensure!(!format!("{first:?}").contains(&first.token));

    // Expired access tokens answer 401; a refresh fixes that.
    google.expire_access_tokens();
    let window = range((9, 0), (17, 0))?;
    let error = api
        .free_busy(&second.token, CALENDAR, window)
        .await
        .err()
        .context("401")?;
    ensure!(error == ApiError::Unauthorized, "{error:?}");
    let third = client.refresh(&refresh_token).await?;
    api.free_busy(&third.token, CALENDAR, window).await?;

    // The user removes our access in their Google account.
    google.revoke_all();
    let error = client
        .refresh(&refresh_token)
        .await
        .err()
        .context("revoked")?;
    ensure!(error == OAuthError::InvalidGrant, "{error:?}");
    let error = api
        .free_busy(&third.token, CALENDAR, window)
        .await
        .err()
        .context("401")?;
    ensure!(error == ApiError::Unauthorized, "{error:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_grant_answered_with_401_is_a_dead_grant_too() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    google.answer_invalid_grant_with(401);
    let client = oauth(&google)?;
    let refresh_token = google.issue_refresh_token();
    client.refresh(&refresh_token).await?;

    google.revoke_all();
    let error = client
        .refresh(&refresh_token)
        .await
        .err()
        .context("revoked")?;
    ensure!(error == OAuthError::InvalidGrant, "{error:?}");
    // A used code answered 401 invalid_grant is a failed attempt, not a
    // dead connection; a 401 for another reason stays a refusal.
    let code = google.issue_code();
    client.exchange_code(&code, None).await?;
    google.fail_next("/token", 401, json!({"error": "invalid_grant"}), None);
    let error = client
        .exchange_code(&code, None)
        .await
        .err()
        .context("used")?;
    ensure!(matches!(error, OAuthError::Rejected(_)), "{error:?}");
    google.fail_next("/token", 401, json!({"error": "invalid_client"}), None);
    let error = client.refresh(&refresh_token).await.err().context("401")?;
    ensure!(
        matches!(&error, OAuthError::Rejected(m) if m.contains("invalid_client")),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_is_recorded_and_repeating_it_is_harmless() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    let client = oauth(&google)?;
    let granted = client.exchange_code(&google.issue_code(), None).await?;
    let refresh_token = granted.refresh_token.context("a refresh token")?;

    client.revoke(&refresh_token).await?;
    ensure!(google.revoked() == vec![refresh_token.clone()]);
    let revoke_request = google
        .requests()
        .into_iter()
        .find(|r| r.path == "/revoke")
        .context("a revoke request")?;
    ensure!(
        revoke_request.query.is_empty(),
        "the token travels in the body"
    );

    // Revoking the refresh token killed its access token and the grant.
    let api = CalendarApi::new(&google.endpoints())?;
    let window = range((9, 0), (17, 0))?;
    let error = api
        .free_busy(&granted.access_token, CALENDAR, window)
        .await
        .err()
        .context("401")?;
    ensure!(error == ApiError::Unauthorized);
    ensure!(client.refresh(&refresh_token).await == Err(OAuthError::InvalidGrant));

    // Already revoked (Google answers 400 invalid_token): fine.
    client.revoke(&refresh_token).await?;
    ensure!(google.revoked().len() == 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwell_token_endpoint_is_unavailable_not_a_dead_grant() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    let client = oauth(&google)?.with_timeout(Duration::from_millis(300));
    let refresh_token = google.issue_refresh_token();

    google.fail_next("/token", 500, json!({"error": "internal_failure"}), None);
    let error = client.refresh(&refresh_token).await.err().context("500")?;
    ensure!(matches!(error, OAuthError::Unavailable(_)), "{error:?}");

    google.fail_next(
        "/token",
        429,
        json!({"error": "rate_limit_exceeded"}),
        Some(1),
    );
    let error = client.refresh(&refresh_token).await.err().context("429")?;
    ensure!(matches!(error, OAuthError::Unavailable(_)), "{error:?}");

    google.set_delay(Duration::from_secs(2));
    let error = client.refresh(&refresh_token).await.err().context("slow")?;
    ensure!(
        matches!(&error, OAuthError::Unavailable(m) if m.contains("timed out")),
        "{error:?}"
    );
    ensure!(!error.to_string().contains(&refresh_token));

    google.set_delay(Duration::ZERO);
    client.refresh(&refresh_token).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_google_is_unavailable() -> anyhow::Result<()> {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let endpoints = voice_scheduler_google::GoogleEndpoints {
        auth_url: format!("http://127.0.0.1:{port}/auth"),
        token_url: format!("http://127.0.0.1:{port}/token"),
        revoke_url: format!("http://127.0.0.1:{port}/revoke"),
        api_base_url: format!("http://127.0.0.1:{port}/calendar/v3/"),
    };
    let client = OAuthClient::new(
        "id".into(),
        "secret".into(),
        REDIRECT.into(),
        endpoints.clone(),
    )?;
    let error = client.refresh("1//token").await.err().context("down")?;
    ensure!(matches!(error, OAuthError::Unavailable(_)), "{error:?}");
    let api = CalendarApi::new(&endpoints)?;
    let error = api
        .free_busy("token", CALENDAR, range((9, 0), (17, 0))?)
        .await
        .err()
        .context("down")?;
    ensure!(error.is_retryable(), "{error:?}");
    Ok(())
}

// ----- Calendar API -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_busy_reports_busy_times_and_unreadable_calendars() -> anyhow::Result<()> {
    let (google, api, token) = calendar().await?;
    google.add_busy(CALENDAR, at(10, 0)?, at(11, 0)?);
    google.add_busy(CALENDAR, at(20, 0)?, at(21, 0)?); // outside the window
    let booked = appointment(AppointmentId::new(), range((14, 0), (14, 30))?, None)?;
    api.upsert_event(&token, CALENDAR, &event_for(&booked), SendUpdates::None)
        .await?;
    let cancelled = appointment(AppointmentId::new(), range((15, 0), (15, 30))?, None)?;
    let cancelled_event = event_for(&cancelled);
    api.upsert_event(&token, CALENDAR, &cancelled_event, SendUpdates::None)
        .await?;
    api.delete_event(&token, CALENDAR, &cancelled_event.id, SendUpdates::None)
        .await?;

    let busy = api
        .free_busy(&token, CALENDAR, range((9, 0), (17, 0))?)
        .await?;
    ensure!(
        busy == vec![range((10, 0), (11, 0))?, range((14, 0), (14, 30))?],
        "{busy:?}"
    );
    // Another calendar is free.
    ensure!(
        api.free_busy(&token, "primary", range((9, 0), (17, 0))?)
            .await?
            .is_empty()
    );

    google.set_calendar_error(CALENDAR, "notFound");
    let error = api
        .free_busy(&token, CALENDAR, range((9, 0), (17, 0))?)
        .await
        .err()
        .context("an unreadable calendar is not free")?;
    ensure!(
        matches!(&error, ApiError::Unavailable(reason) if reason.contains("notFound")),
        "{error:?}"
    );

    let request = google
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("freeBusy"))
        .context("a freeBusy request")?;
    ensure!(
        request.method == "POST" && request.path == "/calendar/v3/freeBusy",
        "{request:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_events_are_found_by_their_mark_where_google_has_them() -> anyhow::Result<()> {
    let (google, api, token) = calendar().await?;
    let window = range((9, 0), (17, 0))?;
    // Someone's meeting, and two of our events (one later cancelled).
    google.add_busy(CALENDAR, at(10, 0)?, at(11, 0)?);
    let first = appointment(AppointmentId::new(), range((10, 30), (11, 30))?, None)?;
    let second = appointment(AppointmentId::new(), range((14, 0), (14, 30))?, None)?;
    for booked in [&first, &second] {
        api.upsert_event(&token, CALENDAR, &event_for(booked), SendUpdates::None)
            .await?;
    }
    let event = google
        .event(CALENDAR, &event_id(first.id()))
        .context("stored")?;
    ensure!(
        event
            .private_properties
            .get("voiceScheduler")
            .map(String::as_str)
            == Some("appointment"),
        "{event:?}"
    );
    // Free/busy counts our events as busy, merged with the meeting.
    let busy = api.free_busy(&token, CALENDAR, window).await?;
    ensure!(
        busy == vec![range((10, 0), (11, 30))?, range((14, 0), (14, 30))?],
        "{busy:?}"
    );
    let own = api.own_events(&token, CALENDAR, window).await?;
    ensure!(
        own == vec![range((10, 30), (11, 30))?, range((14, 0), (14, 30))?],
        "{own:?}"
    );
    api.delete_event(&token, CALENDAR, &event_id(second.id()), SendUpdates::None)
        .await?;
    let own = api
        .own_events(&token, CALENDAR, range((12, 0), (17, 0))?)
        .await?;
    ensure!(own.is_empty(), "{own:?}");
    let list = google
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path.ends_with("/events"))
        .context("a list")?;
    ensure!(
        list.query_param("privateExtendedProperty").as_deref()
            == Some("voiceScheduler=appointment"),
        "{list:?}"
    );
    ensure!(
        list.query_param("fields").as_deref() == Some("items(id,status,start,end),nextPageToken"),
        "{list:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_creates_one_event_and_a_reschedule_moves_it() -> anyhow::Result<()> {
    let (google, api, token) = calendar().await?;
    let id = AppointmentId::new();
    let booked = appointment(id, range((14, 0), (14, 30))?, Some("ada@example.com"))?;
    api.upsert_event(&token, CALENDAR, &event_for(&booked), SendUpdates::All)
        .await?;

    let events = google.events(CALENDAR);
    ensure!(events.len() == 1, "{events:?}");
    let event = &events[0];
    ensure!(event.id == event_id(id));
    ensure!(
        event.summary == "Dental cleaning — Ada Lovelace",
        "{}",
        event.summary
    );
    ensure!(
        event.description
            == "Caller: Ada Lovelace\nPhone: +14155550123\nEmail: ada@example.com\n\
                Confirmation code: K7M2QX\nBooked by voice-scheduler.",
        "{}",
        event.description
    );
    ensure!(event.attendees == vec!["ada@example.com".to_owned()]);
    ensure!(event.start == at(14, 0)? && event.end == at(14, 30)?);
    ensure!(event.time_zone.as_deref() == Some("America/New_York"));
    ensure!(event.status == "confirmed");
    ensure!(event.last_send_updates() == Some("all"));
    let insert = google
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/events"))
        .context("an insert")?;
    ensure!(
        insert.path == "/calendar/v3/calendars/c_team%231%2Fa%3Fb@group.calendar.google.com/events",
        "{insert:?}"
    );
    ensure!(insert.query_param("sendUpdates").as_deref() == Some("all"));

    // Moved to another time: still one event, with the new times.
    let moved = appointment(id, range((16, 0), (17, 0))?, Some("ada@example.com"))?;
    api.upsert_event(
        &token,
        CALENDAR,
        &event_for(&moved),
        SendUpdates::ExternalOnly,
    )
    .await?;
    let events = google.events(CALENDAR);
    ensure!(events.len() == 1, "{events:?}");
    ensure!(events[0].start == at(16, 0)? && events[0].end == at(17, 0)?);
    ensure!(events[0].last_send_updates() == Some("externalOnly"));
    ensure!(
        google.insert_count(&event_id(id)) == 2,
        "the second insert got 409"
    );
    ensure!(google.requests().iter().any(|r| r.method == "PUT"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cancels_and_a_second_delete_is_fine() -> anyhow::Result<()> {
    let (google, api, token) = calendar().await?;
    let id = AppointmentId::new();
    let event = event_for(&appointment(id, range((14, 0), (14, 30))?, None)?);
    api.upsert_event(&token, CALENDAR, &event, SendUpdates::All)
        .await?;

    api.delete_event(&token, CALENDAR, &event.id, SendUpdates::All)
        .await?;
    let stored = google
        .event(CALENDAR, &event.id)
        .context("kept as cancelled")?;
    ensure!(stored.is_cancelled() && stored.last_send_updates() == Some("all"));

    // 410 deleted, then 404 for an id Google never saw: both count as done.
    api.delete_event(&token, CALENDAR, &event.id, SendUpdates::All)
        .await?;
    api.delete_event(
        &token,
        CALENDAR,
        &event_id(AppointmentId::new()),
        SendUpdates::All,
    )
    .await?;
    ensure!(
        google
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE")
            .count()
            == 3
    );

    // Booking it again brings the same event back.
    api.upsert_event(&token, CALENDAR, &event, SendUpdates::All)
        .await?;
    let events = google.events(CALENDAR);
    ensure!(
        events.len() == 1 && events[0].status == "confirmed",
        "{events:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_converges_on_one_event() -> anyhow::Result<()> {
    let (google, api, token) = calendar().await?;
    let id = AppointmentId::new();
    let event = event_for(&appointment(id, range((14, 0), (14, 30))?, None)?);

    google.create_then_fail();
    let error = api
        .upsert_event(&token, CALENDAR, &event, SendUpdates::All)
        .await
        .err()
        .context("the 500")?;
    ensure!(error.is_retryable(), "{error:?}");
    ensure!(
        google.events(CALENDAR).len() == 1,
        "Google created it anyway"
    );

    api.upsert_event(&token, CALENDAR, &event, SendUpdates::All)
        .await?;
    let events = google.events(CALENDAR);
    ensure!(
        events.len() == 1 && events[0].status == "confirmed",
        "{events:?}"
    );
    ensure!(google.insert_count(&event.id) == 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_sorted_into_retry_refresh_or_give_up() -> anyhow::Result<()> {
    let (google, api, token) = calendar().await?;
    let event = event_for(&appointment(
        AppointmentId::new(),
        range((14, 0), (14, 30))?,
        None,
    )?);
    let upsert = || api.upsert_event(&token, CALENDAR, &event, SendUpdates::All);

    google.fail_next("/events", 500, google_error(500, "backendError"), None);
    let error = upsert().await.err().context("500")?;
    ensure!(
        matches!(&error, ApiError::Retryable { reason, retry_after: None } if reason.contains("backendError")),
        "{error:?}"
    );

    google.fail_next(
        "/events",
        429,
        google_error(429, "rateLimitExceeded"),
        Some(1),
    );
    let error = upsert().await.err().context("429")?;
    ensure!(
        matches!(error, ApiError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(1)),
        "{error:?}"
    );

    google.fail_next("/events", 403, google_error(403, "rateLimitExceeded"), None);
    ensure!(upsert().await.err().context("403")?.is_retryable());
    google.fail_next(
        "/events",
        403,
        google_error(403, "userRateLimitExceeded"),
        Some(7),
    );
    let error = upsert().await.err().context("403")?;
    ensure!(
        matches!(error, ApiError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{error:?}"
    );

    google.fail_next("/events", 403, google_error(403, "forbidden"), None);
    let error = upsert().await.err().context("403 forbidden")?;
    ensure!(
        error
            == ApiError::Rejected {
                status: 403,
                reason: "forbidden".into()
            },
        "{error:?}"
    );

    // An error body with only a status, as some Google front ends send.
    google.fail_next(
        "freeBusy",
        503,
        json!({"error": {"code": 503, "message": "unavailable", "status": "UNAVAILABLE"}}),
        None,
    );
    let error = api
        .free_busy(&token, CALENDAR, range((9, 0), (17, 0))?)
        .await
        .err()
        .context("503")?;
    ensure!(
        matches!(&error, ApiError::Retryable { reason, .. } if reason.contains("UNAVAILABLE")),
        "{error:?}"
    );

    let error = api
        .upsert_event("not-a-token", CALENDAR, &event, SendUpdates::All)
        .await
        .err()
        .context("401")?;
    ensure!(error == ApiError::Unauthorized, "{error:?}");

    // None of the failures created anything; the next try does.
    ensure!(google.events(CALENDAR).is_empty());
    upsert().await?;
    ensure!(google.events(CALENDAR).len() == 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_google_times_out_as_retryable() -> anyhow::Result<()> {
    let (google, api, token) = calendar().await?;
    let api = api.with_timeout(Duration::from_millis(200));
    google.set_delay(Duration::from_secs(1));
    let error = api
        .free_busy(&token, CALENDAR, range((9, 0), (17, 0))?)
        .await
        .err()
        .context("a timeout")?;
    ensure!(
        matches!(&error, ApiError::Retryable { reason, .. } if reason.contains("timed out")),
        "{error:?}"
    );
    google.set_delay(Duration::ZERO);
    api.free_busy(&token, CALENDAR, range((9, 0), (17, 0))?)
        .await?;
    Ok(())
}
