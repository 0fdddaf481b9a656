//! Per-address request limits: 429 with Retry-After, counted per group of
//! routes, per client address (behind trusted proxies, the forwarded one),
//! and shared by instances through Redis.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, TestApp, spawn};

/// Limits are counted in one-minute windows: start a test early in one, so
/// that its requests all fall into the same window.
pub(crate) async fn start_of_a_window() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now % 60 > 45 {
        tokio::time::sleep(Duration::from_secs(61 - now % 60)).await;
    }
}

async fn login_status(app: &TestApp, forwarded: Option<&str>) -> (u16, Option<String>) {
    let headers: Vec<(&str, &str)> = forwarded
        .map(|f| vec![("X-Forwarded-For", f)])
        .unwrap_or_default();
    let response = app
        .api_response(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "nobody@example.com", "password": "wrong password"})),
            &headers,
        )
        .await;
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry)
}

on_both_backends!(
    sign_in_requests_are_limited_per_address_with_retry_after,
    &[
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "3"),
        ("TRUSTED_PROXIES", "127.0.0.1")
    ],
    async |app: &TestApp| {
        start_of_a_window().await;
        for _ in 0..3 {
            assert_eq!(login_status(app, Some("198.51.100.1")).await.0, 401);
        }
        let (status, retry) = login_status(app, Some("198.51.100.1")).await;
        assert_eq!(status, 429);
        let retry: u64 = retry.expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // Another client (as the trusted proxy reports it) has its own count.
        assert_eq!(login_status(app, Some("198.51.100.2")).await.0, 401);
        // Other groups of routes are not affected.
        let (status, _) = app
            .api(
                Method::POST,
                "/auth/refresh",
                None,
                Some(&json!({"refresh_token": "x"})),
            )
            .await;
        assert_eq!(status, 401);
    }
);

on_both_backends!(
    forwarded_addresses_from_untrusted_peers_are_ignored,
    &[("RATE_LIMIT_LOGIN_PER_MINUTE", "2")],
    async |app: &TestApp| {
        start_of_a_window().await;
        assert_eq!(login_status(app, Some("203.0.113.1")).await.0, 401);
        assert_eq!(login_status(app, Some("203.0.113.2")).await.0, 401);
        // Both counted as 127.0.0.1: a third claimed address does not help.
        assert_eq!(login_status(app, Some("203.0.113.3")).await.0, 429);
    }
);

/// Two instances with the real Redis on this machine: one limit across both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_limit_through_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if redis_unreachable(&url).await {
        assert!(
            std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
            "Redis unreachable at {url}"
        );
        eprintln!(
            "SKIPPED (Redis unreachable at {url}): two_instances_share_one_limit_through_redis"
        );
        return;
    }
    let prefix = format!("vs-e2e-{}", uuid::Uuid::new_v4().simple());
    let env = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("RATE_LIMIT_VAPI_PER_MINUTE", "4"),
    ];
    let a = spawn(Db::Sqlite, "limits_a", &env).await.unwrap();
    let b = spawn(Db::Sqlite, "limits_b", &env).await.unwrap();
    start_of_a_window().await;
    let ask = async |app: &TestApp, id: &str| {
        let body = json!({"message": {"type": "tool-calls", "toolCallList": [
            {"id": id, "function": {"name": "check_availability", "arguments": {"date": "2030-03-04"}}}]}});
        app.post_vapi("/vapi/tools", &body).await.status().as_u16()
    };
    assert_eq!(ask(&a, "r1").await, 200);
    assert_eq!(ask(&b, "r2").await, 200);
    assert_eq!(ask(&a, "r3").await, 200);
    assert_eq!(ask(&b, "r4").await, 200);
    assert_eq!(ask(&a, "r5").await, 429, "the fifth request overall");
    assert_eq!(ask(&b, "r6").await, 429);
    a.cleanup().await;
    b.cleanup().await;
}

async fn redis_unreachable(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("redis://") else {
        return true;
    };
    let host = rest.split('/').next().unwrap_or("127.0.0.1:6379");
    tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(host))
        .await
        .map_or(true, |r| r.is_err())
}
