//! The files under docker/: well formed, referring only to files that exist,
//! the image labelled with this version, and every metric the dashboard and
//! the alert rules use actually exported by a running Tasker. (`promtool`
//! checks the Prometheus files in CI: scripts/check-docker.sh.)

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::{TestApp, TestDb, test_config};

const DOCKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docker");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{DOCKER}/{path}")).unwrap_or_else(|e| panic!("docker/{path}: {e}"))
}

fn yaml(path: &str) -> serde_yaml::Value {
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("docker/{path} is not YAML: {e}"));
    // Compose files share settings through `<<:` merge keys.
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("docker/{path}: merge keys: {e}"));
    value
}

#[test]
fn the_compose_stack_refers_only_to_files_that_exist() {
    let compose = yaml("compose.yml");
    let services = compose["services"].as_mapping().expect("services");
    for wanted in [
        "postgres",
        "redis",
        "tasker-1",
        "tasker-2",
        "otel-collector",
        "jaeger",
        "prometheus",
        "grafana",
    ] {
        let service = &compose["services"][wanted];
        assert!(!service.is_null(), "service {wanted}");
        // The collector's and Jaeger's images have nothing to run a check with.
        let checkable = !matches!(wanted, "otel-collector" | "jaeger");
        assert!(
            !service["healthcheck"].is_null() || !checkable,
            "{wanted} has a healthcheck"
        );
    }
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let source = volume
                .as_str()
                .unwrap_or_default()
                .split(':')
                .next()
                .unwrap_or_default();
            if source.starts_with("./") {
                assert!(
                    Path::new(DOCKER).join(source).exists(),
                    "{name}: {source} is missing"
                );
            }
        }
        if let Some(build) = service.get("build") {
            let context = Path::new(DOCKER).join(build["context"].as_str().expect("context"));
            let dockerfile = context.join(build["dockerfile"].as_str().expect("dockerfile"));
            assert!(dockerfile.exists(), "{name}: {} is missing", dockerfile.display());
        }
    }
    // The Tasker replicas wait for their database and cache to be healthy.
    let depends = &compose["services"]["tasker-1"]["depends_on"];
    assert_eq!(depends["postgres"]["condition"].as_str(), Some("service_healthy"));
    assert_eq!(depends["redis"]["condition"].as_str(), Some("service_healthy"));
    for path in [
        "otel-collector/config.yaml",
        "prometheus/prometheus.yml",
        "prometheus/alerts.yml",
        "grafana/provisioning/datasources/datasources.yml",
        "grafana/provisioning/dashboards/dashboards.yml",
    ] {
        assert!(!yaml(path).is_null(), "docker/{path}");
    }
}

#[test]
fn the_image_is_labelled_with_this_version_and_runs_as_non_root() {
    let dockerfile = read("Dockerfile");
    let expected = format!("ARG VERSION={}", env!("CARGO_PKG_VERSION"));
    assert!(
        dockerfile.contains(&expected),
        "docker/Dockerfile needs {expected}"
    );
    assert!(
        dockerfile.contains("USER 65532:65532"),
        "runs as distroless's nonroot user"
    );
    assert!(dockerfile.contains("HEALTHCHECK"));
    let config = tasker::config::Config::load(Some(&Path::new(DOCKER).join("tasker.toml")))
        .expect("docker/tasker.toml loads");
    tasker::app::check_config(&config).expect("docker/tasker.toml is valid");
    assert_eq!(config.server.listen, "0.0.0.0:8080");
}

/// Metric names in PromQL text (recording rules' `a:b:c` names are not).
fn metric_names(promql: &str, into: &mut BTreeSet<String>) {
    let mut rest = promql;
    while let Some(at) = rest.find(|c: char| c.is_ascii_lowercase()) {
        rest = &rest[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if (word.starts_with("tasker_") || word.starts_with("process_")) && !word.contains(':') {
            into.insert(word.to_owned());
        }
        rest = &rest[end..];
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    let mut used = BTreeSet::new();
    let dashboard: Value =
        serde_json::from_str(&read("grafana/dashboards/tasker.json")).expect("dashboard JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            metric_names(target["expr"].as_str().expect("expr"), &mut used);
        }
    }
    let rules = yaml("prometheus/alerts.yml");
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            metric_names(rule["expr"].as_str().expect("expr"), &mut used);
        }
    }
    assert!(used.len() >= 10, "{used:?}");

    let db = TestDb::sqlite();
    let app = TestApp::spawn(test_config(&db)).await;
    app.tasker
        .register_template("name: one\nsteps:\n  - {name: a, handler: noop}\n", false)
        .await
        .expect("registers");
    let id = app.create_task("one", serde_json::json!({})).await;
    app.wait_complete(&id).await;
    let missing = |text: &str| -> Vec<String> {
        let exported: BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        used.iter()
            .filter(|m| !exported.contains(m.as_str()))
            .cloned()
            .collect()
    };
    let (_, text) = app.metrics_when(|text| missing(text).is_empty()).await;
    let missing = missing(&text);
    assert!(missing.is_empty(), "used but not exported: {missing:?}");
    app.stop().await;
}
