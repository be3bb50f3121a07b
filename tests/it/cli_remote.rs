//! The command line against a running server: `template register` and
//! `task create|get|cancel|watch`, through the typed GraphQL client.

use std::process::Output;

use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, output_text, test_config};

async fn tasker(server: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tasker"))
        .args(args)
        .env("TASKER_SERVER", server)
        .env_remove("TASKER_TOKEN")
        .env("RUST_LOG", "error")
        .env_remove("RUST_BACKTRACE")
        .output()
        .await
        .expect("tasker runs")
}

const GATED: &str = "name: gated\nnamespace: cli\nversion: 1.0.0\nsteps:\n  - {name: start, handler: noop}\n  - {name: gate, handler: approval, external: true, depends_on: [start]}\n  - {name: finish, handler: echo, depends_on: [gate]}\n";

#[tokio::test]
async fn templates_and_tasks_are_driven_through_a_running_server() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("gated.yaml");
    std::fs::write(&file, GATED).expect("write");
    let path = file.to_str().expect("utf-8 path");

    let hello = "examples/templates/hello_world.yaml";
    let registered = tasker(&app.base, &["template", "register", path, hello]).await;
    assert!(registered.status.success(), "{}", output_text(&registered));
    assert!(
        output_text(&registered).contains("default/hello_world@1.0.0 (4 steps)"),
        "{}",
        output_text(&registered)
    );
    assert!(
        output_text(&registered).contains("cli/gated@1.0.0 (3 steps)"),
        "{}",
        output_text(&registered)
    );
    let changed = dir.path().join("changed.yaml");
    std::fs::write(&changed, GATED.replace("echo", "noop")).expect("write");
    let refused = tasker(
        &app.base,
        &["template", "register", changed.to_str().expect("utf-8")],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));

    // Created through the server, then followed live until it finishes.
    let waited = tasker(
        &app.base,
        &[
            "task",
            "create",
            "hello_world",
            "--context",
            r#"{"who": "cli"}"#,
            "--wait",
            "--timeout",
            "60",
        ],
    )
    .await;
    assert!(waited.status.success(), "{}", output_text(&waited));
    let report = output_text(&waited);
    assert!(
        report.contains("greet") && report.contains("→ COMPLETE"),
        "{report}"
    );

    let created = tasker(
        &app.base,
        &["task", "create", "cli/gated", "--tag", "from-cli", "--json"],
    )
    .await;
    assert!(created.status.success(), "{}", output_text(&created));
    let created: Value = serde_json::from_slice(&created.stdout).expect("JSON");
    let id = created["task"]["id"].as_str().expect("id").to_owned();

    let got = tasker(&app.base, &["task", "get", &id, "--json"]).await;
    assert!(got.status.success(), "{}", output_text(&got));
    let got: Value = serde_json::from_slice(&got.stdout).expect("JSON");
    assert_eq!(got["tags"], json!(["from-cli"]));
    assert_eq!(got["steps"].as_array().map(Vec::len), Some(3));

    // `watch` runs until the task finishes: cancel it from another command.
    let base = app.base.clone();
    let watching = tokio::spawn({
        let id = id.clone();
        async move { tasker(&base, &["task", "watch", &id, "--timeout", "60"]).await }
    });
    let cancelled = tasker(&app.base, &["task", "cancel", &id, "--reason", "test"]).await;
    assert!(cancelled.status.success(), "{}", output_text(&cancelled));
    assert!(
        output_text(&cancelled).contains("CANCELLED"),
        "{}",
        output_text(&cancelled)
    );
    let watched = watching.await.expect("watch ran");
    assert_eq!(watched.status.code(), Some(1), "{}", output_text(&watched));
    assert!(
        output_text(&watched).contains("task ") && output_text(&watched).contains("CANCELLED"),
        "{}",
        output_text(&watched)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_missing_task_or_server_is_reported_plainly() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let got = tasker(&app.base, &["task", "get", &missing]).await;
    assert!(!got.status.success());
    assert!(
        output_text(&got).contains(&format!("no task {missing}")),
        "{}",
        output_text(&got)
    );
    let bad = tasker(&app.base, &["task", "create", "no_such_template"]).await;
    assert!(!bad.status.success());
    assert!(output_text(&bad).contains("NOT_FOUND"), "{}", output_text(&bad));
    app.stop().await;

    let port = crate::support::free_port();
    let nowhere = format!("http://127.0.0.1:{port}");
    let unreachable = tasker(&nowhere, &["task", "get", &missing]).await;
    assert!(!unreachable.status.success());
    assert!(
        output_text(&unreachable).contains("cannot reach"),
        "{}",
        output_text(&unreachable)
    );
}

#[tokio::test]
async fn a_token_from_token_issue_opens_a_secured_server() {
    const SECRET: &str = "a secret for the command-line test, 32+ bytes";
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.auth.enabled = true;
    config.auth.secret = SECRET.into();
    let app = TestApp::spawn(config).await;
    let issued = tokio::process::Command::new(env!("CARGO_BIN_EXE_tasker"))
        .args([
            "token",
            "issue",
            "--permission",
            "tasker.task:read",
            "--ttl",
            "5m",
        ])
        .env("TASKER_AUTH__SECRET", SECRET)
        .output()
        .await
        .expect("tasker runs");
    assert!(issued.status.success(), "{}", output_text(&issued));
    let token = String::from_utf8_lossy(&issued.stdout).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let missing = uuid::Uuid::now_v7().to_string();
    let anonymous = tasker(&app.base, &["task", "get", &missing]).await;
    assert!(
        output_text(&anonymous).contains("UNAUTHENTICATED"),
        "{}",
        output_text(&anonymous)
    );
    let with_token = tasker(&app.base, &["task", "get", &missing, "--token", &token]).await;
    assert!(
        output_text(&with_token).contains(&format!("no task {missing}")),
        "{}",
        output_text(&with_token)
    );
    let not_allowed = tasker(&app.base, &["task", "cancel", &missing, "--token", &token]).await;
    assert!(
        output_text(&not_allowed).contains("FORBIDDEN"),
        "{}",
        output_text(&not_allowed)
    );
    assert!(
        !output_text(&not_allowed).contains(&token),
        "the token is never printed"
    );
    app.stop().await;
}

#[tokio::test]
async fn healthcheck_exits_0_on_a_ready_server_and_1_otherwise() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    let ready = format!("{}/health/ready", app.base);
    let up = tasker(&app.base, &["healthcheck", "--url", &ready]).await;
    assert!(up.status.success(), "{}", output_text(&up));
    app.stop().await;
    let nowhere = format!("http://127.0.0.1:{}/health/ready", crate::support::free_port());
    let down = tasker("", &["healthcheck", "--url", &nowhere, "--timeout", "2"]).await;
    assert_eq!(down.status.code(), Some(1), "{}", output_text(&down));
}

#[tokio::test]
async fn token_api_key_prints_a_key_and_its_configuration_entry() {
    let made = tokio::process::Command::new(env!("CARGO_BIN_EXE_tasker"))
        .args([
            "token",
            "api-key",
            "--name",
            "ci-bot",
            "--permission",
            "tasker.task:read",
        ])
        .output()
        .await
        .expect("tasker runs");
    assert!(made.status.success(), "{}", output_text(&made));
    let key = String::from_utf8_lossy(&made.stdout).trim().to_owned();
    assert!(key.starts_with("ci-bot.") && key.len() > 60, "{key}");
    let entry = String::from_utf8_lossy(&made.stderr);
    assert!(
        entry.contains("[[auth.api_keys]]") && entry.contains("$argon2id$"),
        "{entry}"
    );
    assert!(!entry.contains(&key), "the configuration holds only the hash");
}
