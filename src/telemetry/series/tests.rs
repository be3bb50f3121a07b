use super::*;

const TEXT: &str = r#"# HELP tasker_tasks Tasks that reached each status.
# TYPE tasker_tasks counter
tasker_tasks_total{namespace="pay",name="order",status="complete"} 3
tasker_tasks_total{namespace="a b {c}",name="q\"uote\\",status="error"} 1
# HELP tasker_steps_ready Steps ready.
# TYPE tasker_steps_ready gauge
tasker_steps_ready 7
# TYPE tasker_step_duration_seconds histogram
tasker_step_duration_seconds_sum{handler="h"} 1.5
tasker_step_duration_seconds_count{handler="h"} 2
tasker_step_duration_seconds_bucket{le="0.5",handler="h"} 1
tasker_step_duration_seconds_bucket{le="+Inf",handler="h"} 2
tasker_step_duration_seconds_created{handler="h"} 1700000000.1
# EOF
"#;

#[test]
fn samples_become_series_of_their_family_with_labels_kept_verbatim() {
    let s = Snapshot::parse(TEXT);
    let odd = r#"tasker_tasks_total{namespace="a b {c}",name="q\"uote\\",status="error"}"#;
    assert_eq!(s.series[odd].value, 1.0);
    assert_eq!(s.series[odd].family, "tasker_tasks");
    assert_eq!(s.series[odd].kind, Kind::Monotonic);
    assert_eq!(s.series["tasker_steps_ready"].kind, Kind::Gauge);
    let bucket = r#"tasker_step_duration_seconds_bucket{le="+Inf",handler="h"}"#;
    assert_eq!(s.series[bucket].kind, Kind::Monotonic);
    assert_eq!(s.series.len(), 7, "the _created sample is left out");
    assert_eq!(s.families["tasker_tasks"].help, "Tasks that reached each status.");
    let mut kept = s;
    kept.retain_families(|name| name != "tasker_tasks");
    assert_eq!(kept.series.len(), 5);
    assert!(!kept.families.contains_key("tasker_tasks"));
}

#[test]
fn labels_come_out_unescaped() {
    let (name, labels) =
        name_and_labels(r#"tasker_tasks_total{namespace="a b {c}",name="q\"uote\\",line="x\ny"}"#);
    assert_eq!(name, "tasker_tasks_total");
    let expected = [("namespace", "a b {c}"), ("name", "q\"uote\\"), ("line", "x\ny")];
    assert_eq!(
        labels,
        expected.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
    );
    assert_eq!(name_and_labels("up"), ("up", Vec::new()));
}

#[test]
fn rendering_gives_back_what_was_parsed() {
    let s = Snapshot::parse(TEXT);
    let again = Snapshot::parse(&s.render());
    assert_eq!(again, s);
    assert!(s.render().ends_with("# EOF\n"));
    let rendered = s.render();
    let histogram: Vec<&str> = rendered
        .lines()
        .filter(|l| l.starts_with("tasker_step_duration_seconds"))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        histogram,
        [
            r#"tasker_step_duration_seconds_bucket{le="0.5",handler="h"}"#,
            r#"tasker_step_duration_seconds_bucket{le="+Inf",handler="h"}"#,
            r#"tasker_step_duration_seconds_count{handler="h"}"#,
            r#"tasker_step_duration_seconds_sum{handler="h"}"#,
        ],
        "buckets in increasing le, +Inf last, then count and sum"
    );
}

#[test]
fn increments_count_growth_and_restarts_from_zero() {
    let before = Snapshot::parse(TEXT);
    let mut after = before.clone();
    after.add(
        r#"tasker_tasks_total{namespace="pay",name="order",status="complete"}"#,
        2.0,
    );
    after.add("tasker_steps_ready", 5.0);
    after.add(
        r#"tasker_tasks_total{namespace="new",name="t",status="complete"}"#,
        1.0,
    );
    let grown = after.increments_since(&before);
    assert_eq!(
        grown,
        BTreeMap::from([
            (
                r#"tasker_tasks_total{namespace="new",name="t",status="complete"}"#.to_owned(),
                1.0
            ),
            (
                r#"tasker_tasks_total{namespace="pay",name="order",status="complete"}"#.to_owned(),
                2.0
            ),
        ]),
        "gauges are not increments"
    );
    let mut empty = Snapshot::default();
    empty.add("other_total", 2.0);
    assert_eq!(empty.render(), "# TYPE other_total gauge\nother_total 2\n# EOF\n");
    let restarted = Snapshot::parse(&TEXT.replace("} 3", "} 1"));
    let since = restarted.increments_since(&after);
    assert_eq!(since.values().copied().collect::<Vec<_>>(), vec![1.0]);
}
