//! Prometheus's HTTP API: health, instant queries, scrape targets.

use std::collections::BTreeMap;

use super::backend::{BackendError, Endpoint};

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels (with `__name__` when the expression kept it).
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// The answer to an instant query: its series and the evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub struct Vector {
    /// Unix seconds Prometheus evaluated at.
    pub at: f64,
    /// The series.
    pub samples: Vec<Sample>,
}

impl Vector {
    /// The one value of an aggregated expression; `None` when no series matched.
    pub fn value(&self) -> Option<f64> {
        self.samples.first().map(|s| s.value)
    }
}

/// A scrape target as Prometheus last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Its `instance` label.
    pub instance: String,
    /// `up`, `down` or `unknown`.
    pub health: String,
    /// Why the last scrape failed, if it did.
    pub last_error: String,
}

/// A recording or alerting rule as Prometheus last evaluated it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name (the record or the alert).
    pub name: String,
    /// `recording` or `alerting`.
    pub kind: String,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    pub health: String,
    /// Why its last evaluation failed.
    pub last_error: String,
    /// For an alert: `inactive`, `pending` or `firing`.
    pub state: String,
}

/// A Prometheus server.
#[derive(Debug, Clone)]
pub struct Prometheus {
    at: Endpoint,
}

impl Prometheus {
    /// Prometheus at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str) -> Self {
        Self {
            at: Endpoint::new(base),
        }
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.at.base
    }

    /// `GET /-/healthy`.
    pub async fn healthy(&self) -> Result<(), BackendError> {
        let url = self.at.url("/-/healthy");
        let response = self.at.send(&url).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(BackendError::Status {
            url,
            status: status.as_u16(),
            message: response.text().await.unwrap_or_default(),
        })
    }

    /// An instant query, now or at `at` (Unix seconds).
    pub async fn query(&self, expr: &str, at: Option<f64>) -> Result<Vector, BackendError> {
        let mut url =
            reqwest::Url::parse(&self.at.url("/api/v1/query")).map_err(|e| BackendError::Invalid {
                url: self.at.base.clone(),
                message: e.to_string(),
            })?;
        url.query_pairs_mut().append_pair("query", expr);
        if let Some(at) = at {
            url.query_pairs_mut().append_pair("time", &format!("{at:.3}"));
        }
        let url = url.to_string();
        let body = self
            .at
            .require_json(&url, "no query API here: is this Prometheus?")
            .await?;
        parse_vector(&body).map_err(|message| BackendError::Invalid { url, message })
    }

    /// The scrape jobs of the configuration Prometheus has loaded.
    pub async fn scrape_jobs(&self) -> Result<Vec<String>, BackendError> {
        let url = self.at.url("/api/v1/status/config");
        let body = self.at.get_json(&url).await?.unwrap_or_default();
        let config: serde_json::Value =
            serde_yaml::from_str(body["data"]["yaml"].as_str().unwrap_or_default()).map_err(|e| {
                BackendError::Invalid {
                    url: url.clone(),
                    message: format!("the configuration is not YAML: {e}"),
                }
            })?;
        Ok(config["scrape_configs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|job| job["job_name"].as_str().map(str::to_owned))
            .collect())
    }

    /// Every rule loaded, from every group.
    pub async fn rules(&self) -> Result<Vec<Rule>, BackendError> {
        let url = self.at.url("/api/v1/rules");
        let body = self.at.get_json(&url).await?.unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        Ok(body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| Rule {
                name: text(&r["name"]),
                kind: text(&r["type"]),
                health: text(&r["health"]),
                last_error: text(&r["lastError"]),
                state: text(&r["state"]),
            })
            .collect())
    }

    /// The active targets of `job`.
    pub async fn targets(&self, job: &str) -> Result<Vec<Target>, BackendError> {
        let url = self.at.url("/api/v1/targets?state=active");
        let body = self.at.get_json(&url).await?.unwrap_or_default();
        let targets = body["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(targets
            .iter()
            .filter(|t| t["labels"]["job"] == job)
            .map(|t| Target {
                instance: t["labels"]["instance"].as_str().unwrap_or_default().to_owned(),
                health: t["health"].as_str().unwrap_or("unknown").to_owned(),
                last_error: t["lastError"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }
}

/// The `data` of a successful instant query returning a vector.
fn parse_vector(body: &serde_json::Value) -> Result<Vector, String> {
    if body["status"] != "success" {
        return Err(format!("status {}: {}", body["status"], body["error"]));
    }
    let data = &body["data"];
    let number = |v: &serde_json::Value| v.as_str().and_then(parse_number);
    match data["resultType"].as_str() {
        Some("vector") => {
            let mut at = None;
            let mut samples = Vec::new();
            for series in data["result"].as_array().into_iter().flatten() {
                let labels = series["metric"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                let value = number(&series["value"][1]).ok_or("a sample without a number")?;
                at = series["value"][0].as_f64();
                samples.push(Sample { labels, value });
            }
            // An empty vector carries no timestamp; the caller asked "now".
            Ok(Vector {
                at: at.unwrap_or_else(now),
                samples,
            })
        }
        Some("scalar") => Ok(Vector {
            at: data["result"][0].as_f64().unwrap_or_else(now),
            samples: number(&data["result"][1])
                .map(|value| Sample {
                    labels: BTreeMap::new(),
                    value,
                })
                .into_iter()
                .collect(),
        }),
        other => Err(format!("result type {other:?}, expected a vector")),
    }
}

/// Prometheus writes special values as `NaN`, `+Inf` and `-Inf`.
fn parse_number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `metric{label="value",…}` with PromQL string escaping.
pub fn selector(metric: &str, labels: &[(&str, &str)]) -> String {
    let matchers: Vec<String> = labels
        .iter()
        .map(|(name, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{escaped}\"")
        })
        .collect();
    format!("{metric}{{{}}}", matchers.join(","))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selectors_escape_label_values() {
        assert_eq!(
            selector("up", &[("job", "tasker"), ("name", "a\"b\\c")]),
            r#"up{job="tasker",name="a\"b\\c"}"#
        );
    }

    #[test]
    fn vectors_scalars_and_special_values_parse() {
        let body = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"instance": "a:1", "job": "tasker"}, "value": [1700000000.5, "1"]},
            {"metric": {"instance": "b:1"}, "value": [1700000000.5, "NaN"]},
        ]}});
        let vector = parse_vector(&body).expect("parses");
        assert_eq!(vector.at, 1_700_000_000.5);
        assert_eq!(vector.samples.len(), 2);
        assert_eq!(vector.samples[0].labels["instance"], "a:1");
        assert_eq!(vector.value(), Some(1.0));
        assert!(vector.samples[1].value.is_nan());

        let scalar = json!({"status": "success", "data": {"resultType": "scalar", "result": [1.5, "+Inf"]}});
        assert_eq!(
            parse_vector(&scalar).expect("parses").value(),
            Some(f64::INFINITY)
        );

        let empty = json!({"status": "success", "data": {"resultType": "vector", "result": []}});
        assert_eq!(parse_vector(&empty).expect("parses").value(), None);

        let error = json!({"status": "error", "errorType": "bad_data", "error": "parse error"});
        assert!(parse_vector(&error).expect_err("refused").contains("parse error"));
        let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": []}});
        assert!(parse_vector(&matrix).is_err());
    }
}
