//! `tasker doctor telemetry` as an operator meets it when the telemetry
//! backends are missing: it still runs the task, and the report says what
//! failed and what to fix. (Against a real Prometheus and OTLP receiver it
//! runs in CI: scripts/telemetry/validate-ci.sh.)

use serde_json::Value;

use crate::support::{TestApp, TestDb, free_port, output_text, test_config};

async fn doctor(server: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tasker"))
        .args(["doctor", "telemetry", "--server", server])
        .args(args)
        .env_remove("TASKER_TOKEN")
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("tasker runs")
}

#[tokio::test]
async fn missing_backends_fail_their_checks_with_a_fix_and_the_task_still_runs() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.templates.dirs = vec!["examples/templates".into()];
    let app = TestApp::spawn(config).await;
    let nobody = format!("http://127.0.0.1:{}", free_port());

    let out = doctor(
        &app.base,
        &[
            "--prometheus",
            &nobody,
            "--traces",
            &nobody,
            "--timeout",
            "2",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(&out)));
    let checks = report["checks"].as_array().expect("checks");
    let verdict = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {report:#}"))
    };
    assert_eq!(verdict("server ready")["verdict"], "pass");
    let prometheus = verdict("prometheus healthy");
    assert_eq!(prometheus["verdict"], "fail");
    assert!(
        prometheus["detail"]
            .as_str()
            .expect("detail")
            .contains("cannot reach"),
        "{prometheus}"
    );
    assert!(
        prometheus["fix"].as_str().expect("fix").contains("--prometheus"),
        "{prometheus}"
    );
    assert_eq!(verdict("trace backend")["verdict"], "fail");
    let task = verdict("task completed");
    assert_eq!(task["verdict"], "pass", "{task}");
    assert!(
        task["detail"]
            .as_str()
            .expect("detail")
            .contains("default/hello_world"),
        "{task}"
    );
    let trace = verdict("trace received");
    assert_eq!(trace["verdict"], "fail");
    assert!(
        trace["fix"].as_str().expect("fix").contains("--traces"),
        "{trace}"
    );
    assert!(
        checks.iter().all(|c| c["name"] != "task counted"),
        "no counting without Prometheus: {report:#}"
    );

    // The text report: a line per check, the fix under each failure.
    let text = doctor(
        &app.base,
        &["--prometheus", &nobody, "--traces", &nobody, "--timeout", "1"],
    )
    .await;
    let text = output_text(&text);
    assert!(text.contains("  ok    server ready"), "{text}");
    assert!(text.contains("  FAIL  prometheus healthy"), "{text}");
    assert!(
        text.contains("fix: pass the Prometheus server's base URL"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("failed"), "{text}");

    // No server: one failed check, nothing else attempted.
    let down = doctor(&nobody, &["--prometheus", &nobody, "--traces", &nobody, "--json"]).await;
    assert_eq!(down.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&down.stdout).expect("json");
    assert_eq!(report["checks"].as_array().map(Vec::len), Some(1), "{report:#}");
    assert_eq!(
        report["checks"][0]["fix"],
        "start Tasker or pass its address as --server"
    );

    // A nonsensical limit is refused before anything runs.
    let refused = doctor(&app.base, &["--load", "--max-error-rate", "2"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(output_text(&refused).contains("--max-error-rate must be between 0 and 1"));
}
