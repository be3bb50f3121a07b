//! The command line as a user runs it.

use std::process::{Command, Output};

use crate::support::output_text;

fn tasker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tasker"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .expect("tasker runs")
}

#[test]
fn template_validate_accepts_the_examples() {
    let examples: Vec<String> = std::fs::read_dir("examples/templates")
        .expect("examples")
        .map(|e| e.expect("entry").path().display().to_string())
        .collect();
    let mut args = vec!["template", "validate"];
    args.extend(examples.iter().map(String::as_str));
    let out = tasker(&args);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        output_text(&out).matches("ok ").count(),
        examples.len(),
        "{}",
        output_text(&out)
    );
}

#[test]
fn template_validate_exits_1_and_names_every_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nsteps:\n  - {name: a, handler: noop, depends_on: [b]}\n  - {name: b, handler: nope, depends_on: [a]}\n",
    )
    .expect("write");
    let out = tasker(&["template", "validate", bad.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let report = output_text(&out);
    assert!(report.contains("dependency cycle: a -> b -> a"), "{report}");
    assert!(report.contains("unknown handler \"nope\""), "{report}");
    let declared = tasker(&[
        "template",
        "validate",
        "--handler",
        "nope",
        bad.to_str().expect("utf-8 path"),
    ]);
    assert!(
        !output_text(&declared).contains("unknown handler"),
        "{}",
        output_text(&declared)
    );
}

#[test]
fn task_create_wait_runs_a_task_to_completion_on_a_fresh_database() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let out = tasker(&[
        "--database-url",
        &url,
        "task",
        "create",
        "payments/process_order",
        "--local",
        "--context",
        r#"{"order_id": 42}"#,
        "--wait",
        "--json",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["task"]["status"], "COMPLETE");
    assert_eq!(report["steps"].as_array().map(Vec::len), Some(5));

    let invalid = tasker(&[
        "--database-url",
        &url,
        "task",
        "create",
        "payments/process_order",
        "--local",
        "--context",
        "{}",
    ]);
    assert!(!invalid.status.success());
    assert!(
        output_text(&invalid).contains("order_id"),
        "{}",
        output_text(&invalid)
    );
}

#[test]
fn a_bad_configuration_value_is_refused_with_its_key() {
    for (variable, value, key) in [
        ("TASKER_ENGINE__MAX_CONCURRENCY", "0", "engine.max_concurrency"),
        (
            "TASKER_DEPENDENCY_GRAPH__SEVERITY_THRESHOLDS__MEDIUM",
            "70",
            "dependency_graph.severity_thresholds",
        ),
        (
            "TASKER_DEPENDENCY_GRAPH__DURATION_ESTIMATES__DEFAULT_MS",
            "0",
            "dependency_graph.duration_estimates.default_ms",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tasker"))
            .args(["template", "validate", "examples/templates/hello_world.yaml"])
            .env(variable, value)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{variable}={value}");
        assert!(output_text(&out).contains(key), "{}", output_text(&out));
    }
}

#[test]
fn a_dependency_graph_block_in_the_config_file_is_read_and_checked() {
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[dependency_graph.state_severity]\nERROR = 3.0\nIN_PROGRESS = 0.5\n[dependency_graph.duration_estimates.handlers]\npayments = 5000\n",
    )
    .expect("write");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[dependency_graph.state_severity]\nBROKEN = 1.0\n").expect("write");
    let validate = |config: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_tasker"))
            .arg("--config")
            .arg(config)
            .args(["template", "validate", "examples/templates/hello_world.yaml"])
            .env("RUST_LOG", "error")
            .output()
            .expect("runs")
    };
    let ok = validate(&good);
    assert!(ok.status.success(), "{}", output_text(&ok));
    let refused = validate(&bad);
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains("BROKEN"),
        "{}",
        output_text(&refused)
    );
}

fn bench_json(db: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let mut all = vec!["--database-url", url.as_str(), "bench", "--json"];
    all.extend(args);
    let out = tasker(&all);
    assert!(out.status.success(), "{}", output_text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(&out)))
}

#[test]
fn the_fan_out_scaling_replica_and_soak_benches_run_end_to_end() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("bench.db");

    let fanout = bench_json(&db, &["--fanout", "--subscribers", "20"]);
    assert_eq!(fanout["fanout"]["subscribers"], 20, "{fanout}");
    assert_eq!(fanout["fanout"]["delivery"]["samples"], 20, "{fanout}");
    assert_eq!(fanout["fanout"]["completion"]["samples"], 20, "{fanout}");

    let stored = bench_json(&db, &["--stored-tasks", "30,60", "--tasks", "10"]);
    let levels = stored["levels"].as_array().expect("levels");
    assert_eq!(levels.len(), 2, "{stored}");
    assert!(levels[1]["stored_tasks"].as_u64() >= Some(60), "{stored}");
    assert_eq!(levels[1]["probe"]["tasks"], 10, "{stored}");

    let replicas = bench_json(&db, &["--replicas", "1,2", "--tasks", "20"]);
    let runs = replicas["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{replicas}");
    assert_eq!(runs[1]["replicas"], 2, "{replicas}");
    assert_eq!(runs[1]["drain"]["tasks"], 20, "{replicas}");
    assert_eq!(runs[1]["replica_peak_rss_mb"].as_array().map(Vec::len), Some(2));

    let soak = bench_json(&db, &["--soak-minutes", "0.05", "--rate", "20"]);
    let samples = soak["samples"].as_array().expect("samples");
    let last = samples.last().expect("a sample");
    assert!(last["created"].as_u64() > Some(20), "{soak}");
    assert_eq!(last["finished"], last["created"], "{soak}");
}

#[test]
fn the_soak_refuses_a_rate_or_length_it_could_never_finish() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("soak.db").display());
    for (flag, value, message) in [
        (
            "--rate",
            "0",
            "--rate must be a positive number of tasks per second",
        ),
        (
            "--soak-minutes",
            "0",
            "--soak-minutes must be a positive number of minutes",
        ),
    ] {
        let mut args = vec![
            "--database-url",
            url.as_str(),
            "bench",
            "--soak-minutes",
            "0.05",
            "--rate",
            "10",
        ];
        let at = args.iter().position(|a| *a == flag).expect("flag") + 1;
        args[at] = value;
        let out = tasker(&args);
        assert!(!out.status.success(), "{}", output_text(&out));
        assert!(output_text(&out).contains(message), "{}", output_text(&out));
    }
}
