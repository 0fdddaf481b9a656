//! Bodies that cannot be read: text that is not JSON is `400
//! malformed_json`; JSON of the wrong shape is `422 invalid_fields` naming
//! the field — also for a number out of range and a missing field.

use serde_json::Value;

use crate::helpers::TestApp;

async fn send_raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, Value) {
    let response = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn field_names(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

on_both_backends!(
    text_that_is_not_json_is_malformed_json,
    &[],
    async |app: &TestApp| {
        let token = app.admin_token().await;
        for body in [
            "[1,2",
            "{\"name\": \"Front desk\"} trailing",
            "{} {}",
            "{\"name\": ",
            "[\"a\", 1]]",
            "nope",
        ] {
            for (method, path) in [
                (reqwest::Method::POST, "/api/v1/calendars"),
                (reqwest::Method::POST, "/api/v1/appointments"),
                (reqwest::Method::POST, "/auth/login"),
            ] {
                let (status, answer) = send_raw(app, method.clone(), path, &token, body).await;
                assert_eq!(status, 400, "{method} {path} {body}: {answer}");
                assert_eq!(
                    answer["error"]["code"], "malformed_json",
                    "{body}: {answer}"
                );
            }
        }
    }
);

on_both_backends!(
    json_of_the_wrong_shape_names_the_field,
    &[],
    async |app: &TestApp| {
        let token = app.admin_token().await;
        let id = app.first_calendar_id(&token).await;
        let path = format!("/api/v1/calendars/{id}");
        let cases = [
            // 2^70: beyond any integer type.
            ("{\"slot_minutes\": 1180591620717411303424}", "slot_minutes"),
            ("{\"slot_minutes\": 30.5}", "slot_minutes"),
            ("{\"slot_minutes\": \"thirty\"}", "slot_minutes"),
            (
                "{\"vapi_assistant_ids\": [\"a\", 7]}",
                "vapi_assistant_ids[1]",
            ),
            ("{\"owner_id\": \"not a uuid\"}", "owner_id"),
            ("[1, 2]", "body"),
        ];
        for (body, field) in cases {
            let (status, answer) = send_raw(app, reqwest::Method::PATCH, &path, &token, body).await;
            assert_eq!(status, 422, "{body}: {answer}");
            assert_eq!(
                answer["error"]["code"], "invalid_fields",
                "{body}: {answer}"
            );
            assert_eq!(
                field_names(&answer),
                vec![field.to_owned()],
                "{body}: {answer}"
            );
        }
        // A missing field is named too.
        let (status, answer) = send_raw(
            app,
            reqwest::Method::POST,
            "/auth/login",
            &token,
            "{\"email\": \"admin@example.com\"}",
        )
        .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(
            field_names(&answer),
            vec!["password".to_owned()],
            "{answer}"
        );
        // The calendar is unchanged by any of it.
        let (_, calendar) = app
            .api(reqwest::Method::GET, &path, Some(&token), None)
            .await;
        assert_ne!(calendar["slot_minutes"], Value::Null, "{calendar}");
    }
);
