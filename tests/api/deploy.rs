//! What can be checked of the deployment files without a Docker engine.

use std::path::PathBuf;

use serde_json::Value;
use voice_scheduler_server::config::VARIABLES;

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Value {
    let yaml: serde_norway::Value =
        serde_norway::from_str(&repo_file("docker-compose.yml")).unwrap();
    serde_json::to_value(yaml).unwrap()
}

#[test]
fn compose_starts_the_app_after_a_healthy_postgres() {
    let c = compose();
    let services = c["services"].as_object().unwrap();
    assert!(services.contains_key("postgres") && services.contains_key("app"));

    let pg = &c["services"]["postgres"];
    assert!(
        pg["healthcheck"]["test"].to_string().contains("pg_isready"),
        "{pg}"
    );
    let volume = pg["volumes"][0].as_str().unwrap();
    let (name, mount) = volume.split_once(':').unwrap();
    assert_eq!(mount, "/var/lib/postgresql/data");
    assert!(
        c["volumes"].get(name).is_some(),
        "named volume {name} is declared"
    );
    assert!(
        pg["environment"]["POSTGRES_PASSWORD"]
            .as_str()
            .unwrap()
            .contains("POSTGRES_PASSWORD")
    );

    let app = &c["services"]["app"];
    assert_eq!(
        app["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    assert_eq!(app["env_file"], ".env");
    assert!(
        app["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "8000:8000")
    );
    assert!(
        app["healthcheck"]["test"]
            .to_string()
            .contains("/health/ready")
    );
    let env = &app["environment"];
    assert_eq!(
        env["HOST"], "0.0.0.0",
        "listens beyond the container's loopback"
    );
    assert_eq!(env["PORT"], "8000");
    let url = env["DATABASE_URL"].as_str().unwrap();
    assert!(
        url.starts_with("postgres://") && url.contains("@postgres:5432/"),
        "{url}"
    );
    // every variable the app reads is a known setting
    for key in env.as_object().unwrap().keys() {
        assert!(
            VARIABLES.iter().any(|(name, _)| name == key),
            "{key} is not a setting of the application"
        );
    }
    // the graceful-shutdown window fits inside the container's stop window
    let grace: u64 = VARIABLES
        .iter()
        .find(|(n, _)| *n == "SHUTDOWN_GRACE_SECONDS")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let stop = app["stop_grace_period"]
        .as_str()
        .unwrap()
        .trim_end_matches('s')
        .parse::<u64>()
        .unwrap();
    assert!(
        stop > grace,
        "stop_grace_period {stop}s must exceed SHUTDOWN_GRACE_SECONDS {grace}s"
    );

    let redis = &c["services"]["redis"];
    assert!(redis["healthcheck"]["test"].to_string().contains("ping"));
}

#[test]
fn every_setting_is_in_env_example_and_the_configuration_doc() {
    let example = repo_file(".env.example");
    let doc = repo_file("docs/configuration.md");
    for (name, default) in VARIABLES {
        let line = example
            .lines()
            .find(|l| l.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing from .env.example"));
        let value = &line[name.len() + 1..];
        if ![
            "VAPI_WEBHOOK_SECRET",
            "VAPI_HMAC_SECRET",
            "METRICS_TOKEN",
            "JWT_SECRET",
            "VAPI_API_KEY",
        ]
        .contains(name)
        {
            assert_eq!(value, *default, ".env.example shows the default of {name}");
        } else {
            assert!(value.is_empty(), "no secret in .env.example");
        }
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} missing from docs/configuration.md"
        );
    }
}

#[test]
fn the_image_is_multi_stage_non_root_with_certificates_and_a_health_check() {
    let dockerfile = repo_file("Dockerfile");
    assert!(
        dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .count()
            >= 2
    );
    assert!(dockerfile.contains("ca-certificates"));
    let user = dockerfile
        .lines()
        .rev()
        .find(|l| l.starts_with("USER "))
        .unwrap();
    assert!(!user.contains("root") && user != "USER 0", "{user}");
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/health/ready"));
    assert!(dockerfile.contains("--locked"));
}
