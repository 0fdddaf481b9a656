use crate::helpers::TestApp;
use serde_json::Value;

on_both_backends!(health_and_readiness, &[], async |app: &TestApp| {
    let r = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert!(
        body["timestamp"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .is_ok()
    );

    let r = app
        .client
        .get(format!("{}/health/ready", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");

    let r = app
        .client
        .get(format!("{}/no/such/route", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let r = app
        .client
        .get(format!("{}/vapi/tools", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
});
