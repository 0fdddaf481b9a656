//! Every policy that depends on the path sees the path the router matches:
//! percent-encoded letters (`/auth/%6Cogin`) are the same route as the plain
//! ones, for the per-address limits and for "no CORS on /vapi".

use serde_json::json;

use crate::helpers::{SECRET, TestApp};
use crate::limits::start_of_a_window;

async fn post_status(app: &TestApp, path: &str, body: &serde_json::Value) -> u16 {
    app.client
        .post(format!("{}{path}", app.address))
        .header("X-Vapi-Secret", SECRET)
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Each limited route with its encoded spellings (lower- and upper-case hex,
/// an encoded first segment) and a body it is given.
fn limited_routes() -> Vec<(&'static str, Vec<&'static str>, serde_json::Value)> {
    vec![
        (
            "/auth/login",
            vec![
                "/auth/%6Cogin",
                "/auth/%6cogin",
                "/%61uth/login",
                "/auth/l%6F%67in",
            ],
            json!({"email": "nobody@example.com", "password": "wrong password"}),
        ),
        (
            "/auth/register",
            vec![
                "/auth/%72egister",
                "/auth/%72%65gister",
                "/%61uth/%72egister",
                "/auth/registe%72",
            ],
            json!({"email": "not an email", "password": "x", "name": ""}),
        ),
        (
            "/auth/refresh",
            vec![
                "/auth/%72efresh",
                "/auth/refres%68",
                "/%61uth/refresh",
                "/auth/%72%65fresh",
            ],
            json!({"refresh_token": "x"}),
        ),
        (
            "/vapi/tools",
            vec![
                "/%76api/tools",
                "/vapi/%74ools",
                "/%76%61pi/tools",
                "/vapi/tool/%62ook-appointment",
            ],
            json!({"message": {"type": "status-update"}}),
        ),
    ]
}

on_both_backends!(
    encoded_paths_count_against_the_same_limit_as_the_plain_route,
    &[
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "3"),
        ("RATE_LIMIT_REGISTER_PER_MINUTE", "3"),
        ("RATE_LIMIT_REFRESH_PER_MINUTE", "3"),
        ("RATE_LIMIT_VAPI_PER_MINUTE", "3"),
    ],
    async |app: &TestApp| {
        start_of_a_window().await;
        for (plain, encoded, body) in limited_routes() {
            // Three encoded requests use up the limit of three per minute...
            for path in &encoded[..3] {
                let status = post_status(app, path, &body).await;
                assert_ne!(status, 429, "{path} limited too early");
            }
            // ...so both the plain route and a fourth spelling are refused.
            assert_eq!(post_status(app, plain, &body).await, 429, "{plain}");
            assert_eq!(
                post_status(app, encoded[3], &body).await,
                429,
                "{}",
                encoded[3]
            );
        }
    }
);

on_both_backends!(
    encoded_vapi_paths_get_no_cors_headers,
    &[("CORS_ORIGINS", "https://app.example.com")],
    async |app: &TestApp| {
        let allowed = "https://app.example.com";
        for path in ["/%76api/tools", "/vapi/%74ools", "/%76%61%70%69/tools"] {
            for method in [reqwest::Method::OPTIONS, reqwest::Method::POST] {
                let r = app
                    .client
                    .request(method.clone(), format!("{}{path}", app.address))
                    .header("Origin", allowed)
                    .header("Access-Control-Request-Method", "POST")
                    .header("X-Vapi-Secret", SECRET)
                    .json(&json!({"message": {"type": "status-update"}}))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    !r.headers().contains_key("access-control-allow-origin"),
                    "{method} {path} answered CORS headers"
                );
            }
        }
        // An encoded path to a route that does allow CORS still gets them.
        let r = app
            .client
            .get(format!("{}/%68ealth", app.address))
            .header("Origin", allowed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["access-control-allow-origin"], allowed);
    }
);
