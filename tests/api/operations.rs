//! What operators and browsers see: the API reference, request ids, security
//! headers, CORS, error statuses, metrics and readiness.

use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp};

const METRICS_TOKEN: &str = "metrics-token-for-tests-0123";

on_both_backends!(
    the_api_reference_is_served_offline,
    &[],
    async |app: &TestApp| {
        let r = app.get("/openapi.json").await;
        assert_eq!(r.status(), 200);
        let doc: Value = r.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for path in [
            "/health",
            "/health/ready",
            "/metrics",
            "/vapi/tools",
            "/vapi/tool/book-appointment",
            "/vapi/webhook",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
        let r = app.get("/docs/").await;
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"),
            "{csp}"
        );
        let html = r.text().await.unwrap();
        assert!(
            html.contains("swagger"),
            "the interactive reference is served"
        );
        assert!(
            !html.contains("https://"),
            "no CDN: everything comes from this server"
        );
        let r = app.get("/docs/swagger-ui-bundle.js").await;
        assert_eq!(r.status(), 200, "the UI's script is served from the binary");
    }
);

on_both_backends!(
    request_ids_and_security_headers,
    &[],
    async |app: &TestApp| {
        let r = app.get("/health").await;
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "a generated UUID: {id}");
        for (name, expected) in [
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            ),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(r.headers()[name], expected, "{name}");
        }
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );

        let r = app
            .client
            .get(format!("{}/health", app.address))
            .header("X-Request-Id", "caller-chosen-42")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], "caller-chosen-42");
        let r = app
            .client
            .get(format!("{}/health", app.address))
            .header("X-Request-Id", "bad id with spaces")
            .send()
            .await
            .unwrap();
        assert_ne!(r.headers()["x-request-id"], "bad id with spaces");
        // errors carry them too
        let r = app.get("/nowhere").await;
        assert_eq!(r.status(), 404);
        assert!(r.headers().contains_key("x-request-id"));
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
);

on_both_backends!(
    cors_only_for_configured_origins_and_never_on_vapi,
    &[("CORS_ORIGINS", "https://app.example.com")],
    async |app: &TestApp| {
        let allowed = "https://app.example.com";
        let r = app
            .client
            .get(format!("{}/health", app.address))
            .header("Origin", allowed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], allowed);
        assert_eq!(r.headers()["access-control-allow-credentials"], "true");
        let r = app
            .client
            .get(format!("{}/health", app.address))
            .header("Origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert!(!r.headers().contains_key("access-control-allow-origin"));

        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/health", app.address))
            .header("Origin", allowed)
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204);
        assert_eq!(preflight.headers()["access-control-allow-origin"], allowed);
        assert!(
            preflight
                .headers()
                .contains_key("access-control-allow-methods")
        );

        for method in [reqwest::Method::OPTIONS, reqwest::Method::POST] {
            let r = app
                .client
                .request(method.clone(), format!("{}/vapi/tools", app.address))
                .header("Origin", allowed)
                .header("Access-Control-Request-Method", "POST")
                .header("X-Vapi-Secret", SECRET)
                .json(&json!({"message": {"type": "status-update"}}))
                .send()
                .await
                .unwrap();
            assert!(
                !r.headers().contains_key("access-control-allow-origin"),
                "{method} /vapi/tools"
            );
        }
    }
);

on_both_backends!(
    wrong_methods_types_and_sizes_get_json_errors,
    &[],
    async |app: &TestApp| {
        let r = app
            .client
            .delete(format!("{}/vapi/tools", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "POST");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");

        let r = app
            .client
            .post(format!("{}/health", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET");

        let r = app
            .client
            .post(format!("{}/vapi/tools", app.address))
            .header("X-Vapi-Secret", SECRET)
            .header("content-type", "text/plain")
            .body("{\"message\": {\"type\": \"status-update\"}}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unsupported_media_type");

        let huge = format!(
            "{{\"message\": {{\"type\": \"speech-update\", \"pad\": \"{}\"}}}}",
            "x".repeat(2 * 1024 * 1024)
        );
        let r = app
            .client
            .post(format!("{}/vapi/webhook", app.address))
            .header("X-Vapi-Secret", SECRET)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large");
    }
);

on_both_backends!(metrics_are_hidden_by_default, &[], async |app: &TestApp| {
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 404);
});

on_both_backends!(
    metrics_count_requests_tools_bookings_and_the_pool,
    &[
        ("METRICS_TOKEN", METRICS_TOKEN),
        ("METRICS_ADDR", "127.0.0.1:0")
    ],
    async |app: &TestApp| {
        let booked = app
            .tool(
                "m1",
                "book_appointment",
                json!({"name": "Mia Metric", "date": "2030-03-12", "time": "10:00"}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked");
        let refused = app.get("/metrics").await;
        assert_eq!(refused.status(), 401);
        let r = app
            .client
            .get(format!("{}/metrics", app.address))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = r.text().await.unwrap();
        for needle in [
            "http_requests_total{route=\"/vapi/tools\",method=\"POST\",status=\"200\"}",
            "http_request_duration_seconds_bucket{route=\"/vapi/tools\",method=\"POST\",le=\"0.005\"}",
            "vapi_tool_calls_total{tool=\"book_appointment\",outcome=\"booked\"}",
            "bookings_total{channel=\"voice\",outcome=\"booked\"}",
            "db_pool_connections{state=\"idle\"}",
            "db_pool_max_connections",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
        // the separate listener serves the same without a token
        let separate = app.metrics_address.as_ref().unwrap();
        let r = app
            .client
            .get(format!("{separate}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("vapi_tool_calls_total"));
    }
);

on_both_backends!(
    readiness_needs_every_migration,
    &[],
    async |app: &TestApp| {
        assert_eq!(app.get("/health/ready").await.status(), 200);
        app.sql("DELETE FROM seaql_migrations WHERE version = (SELECT MAX(version) FROM seaql_migrations)").await;
        let r = app.get("/health/ready").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "5");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "not_ready");
        assert!(
            body["reason"]
                .as_str()
                .unwrap()
                .contains("1 database migrations"),
            "{body}"
        );
        // liveness is unaffected
        assert_eq!(app.get("/health").await.status(), 200);
    }
);
