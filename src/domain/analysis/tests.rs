//! Hand-computed expectations for the classic shapes, and properties on
//! random DAGs.

use chrono::{Duration, Utc};
use proptest::prelude::*;

use super::*;

fn dag(names: &[&str], edges: &[(&str, &str)]) -> Dag {
    let (d, unknown) = Dag::new(
        names.iter().map(|s| (*s).to_owned()).collect(),
        edges.iter().copied(),
    );
    assert!(unknown.is_empty());
    d
}

fn planned(estimates: &[f64]) -> Vec<StepInput> {
    estimates
        .iter()
        .map(|&ms| StepInput {
            estimate_ms: ms,
            estimate_source: EstimateSource::Configured,
            runtime: None,
        })
        .collect()
}

fn strs(names: &[Name]) -> Vec<&str> {
    names.iter().map(|n| &**n).collect()
}

fn ranking(a: &GraphAnalysis) -> Vec<(&str, f64, Criticality)> {
    a.bottlenecks
        .iter()
        .map(|b| (&*b.step_name, b.score, b.severity))
        .collect()
}

fn widths(a: &GraphAnalysis) -> Vec<usize> {
    a.levels.iter().map(|l| l.steps.len()).collect()
}

#[test]
fn linear_chain() {
    let d = dag(&["a", "b", "c", "d"], &[("a", "b"), ("b", "c"), ("c", "d")]);
    let a = analyze(
        &d,
        &planned(&[10.0, 20.0, 30.0, 40.0]),
        &AnalysisConfig::default(),
        Utc::now(),
    )
    .expect("acyclic");
    assert_eq!(strs(&a.critical_path.steps), vec!["a", "b", "c", "d"]);
    assert_eq!(a.critical_path.estimated_duration_ms, 100.0);
    assert_eq!((widths(&a), a.max_parallelism), (vec![1, 1, 1, 1], 1));
    assert_eq!((strs(&a.roots), strs(&a.leaves)), (vec!["a"], vec!["d"]));
    assert_eq!((a.impact_score, a.criticality), (0.0, Criticality::Low));
    assert!(a.bottlenecks.is_empty());
}

#[test]
fn diamond_takes_its_slower_branch() {
    let d = dag(
        &["a", "b", "c", "d"],
        &[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
    );
    let a = analyze(
        &d,
        &planned(&[10.0, 50.0, 20.0, 10.0]),
        &AnalysisConfig::default(),
        Utc::now(),
    )
    .expect("acyclic");
    assert_eq!(strs(&a.critical_path.steps), vec!["a", "b", "d"]);
    assert_eq!(a.critical_path.estimated_duration_ms, 70.0);
    assert_eq!(widths(&a), vec![1, 2, 1]);
    assert_eq!(strs(&a.levels[1].steps), vec!["b", "c"]);
    assert_eq!(strs(&a.steps[3].depends_on), vec!["b", "c"]);
    assert_eq!(a.edges.len(), 4);
}

#[test]
fn tree_and_fan_out_widths() {
    let tree = dag(
        &["root", "l", "r", "ll", "lr", "rl", "rr"],
        &[
            ("root", "l"),
            ("root", "r"),
            ("l", "ll"),
            ("l", "lr"),
            ("r", "rl"),
            ("r", "rr"),
        ],
    );
    let a = analyze(
        &tree,
        &planned(&[1.0, 1.0, 5.0, 1.0, 1.0, 2.0, 1.0]),
        &AnalysisConfig::default(),
        Utc::now(),
    )
    .expect("acyclic");
    assert_eq!(strs(&a.critical_path.steps), vec!["root", "r", "rl"]);
    assert_eq!((widths(&a), a.leaves.len()), (vec![1, 2, 4], 4));

    let mut names = vec!["start".to_owned()];
    names.extend((1..=20).map(|i| format!("w{i}")));
    names.push("join".to_owned());
    let edges: Vec<(String, String)> = (1..=20)
        .flat_map(|i| {
            [
                ("start".to_owned(), format!("w{i}")),
                (format!("w{i}"), "join".to_owned()),
            ]
        })
        .collect();
    let (fan, _) = Dag::new(names, edges.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    let a = analyze(&fan, &planned(&[1.0; 22]), &AnalysisConfig::default(), Utc::now()).expect("acyclic");
    assert_eq!((widths(&a), a.max_parallelism), (vec![1, 20, 1], 20));
    assert_eq!(a.critical_path.steps.len(), 3);
}

fn runtime(status: StepStatus, attempts: u32, max_attempts: u32) -> Option<StepRuntime> {
    Some(StepRuntime {
        status,
        attempts,
        max_attempts,
        retryable: true,
        started_at: None,
        completed_at: None,
        next_attempt_at: None,
        error: None,
    })
}

/// The mixed DAG of the integration tests, mid-run with three kinds of trouble.
fn troubled_mixed() -> (Dag, Vec<StepInput>) {
    let d = dag(
        &[
            "fetch", "config", "validate", "enrich", "price", "audit", "reserve", "notify", "archive",
        ],
        &[
            ("fetch", "validate"),
            ("fetch", "enrich"),
            ("config", "enrich"),
            ("validate", "price"),
            ("enrich", "price"),
            ("config", "audit"),
            ("price", "reserve"),
            ("reserve", "notify"),
            ("audit", "notify"),
            ("validate", "archive"),
        ],
    );
    let mut enrich = runtime(StepStatus::InProgress, 1, 3);
    if let Some(rt) = enrich.as_mut() {
        rt.started_at = Some(Utc::now() - Duration::minutes(10));
    }
    let states = [
        runtime(StepStatus::Complete, 1, 3),
        runtime(StepStatus::Complete, 1, 3),
        runtime(StepStatus::Error, 3, 3),
        enrich,
        runtime(StepStatus::Pending, 0, 3),
        runtime(StepStatus::WaitingForRetry, 2, 5),
        runtime(StepStatus::Pending, 0, 3),
        runtime(StepStatus::Pending, 0, 3),
        runtime(StepStatus::Pending, 0, 3),
    ];
    let inputs = states
        .into_iter()
        .map(|rt| StepInput {
            estimate_ms: 1_000.0,
            estimate_source: EstimateSource::Default,
            runtime: rt,
        })
        .collect();
    (d, inputs)
}

#[test]
fn mixed_dag_ranks_its_bottlenecks_by_hand_computed_scores() {
    let (d, inputs) = troubled_mixed();
    let a = analyze(&d, &inputs, &AnalysisConfig::default(), Utc::now()).expect("acyclic");
    let ranking = ranking(&a);
    // validate: (5·4 + 15·4 + 10·3 + 10·2 + 30 + 20) × 2.0 = 360
    // enrich:   (5·3 + 15·3 + 10·3 + 15 long-running) × 1.0 = 105
    // audit:    (5·1 + 15·1 + 10·1 + 10·1) × 1.2 = 48
    assert_eq!(
        ranking,
        vec![
            ("validate", 360.0, Criticality::Critical),
            ("enrich", 105.0, Criticality::Critical),
            ("audit", 48.0, Criticality::Medium),
        ]
    );
    assert_eq!(
        strs(&a.bottlenecks[0].blocked_steps),
        vec!["price", "reserve", "notify", "archive"]
    );
    assert_eq!((a.impact_score, a.criticality), (513.0, Criticality::Critical));
    assert!(
        a.bottlenecks[1].reason.contains("running for 600 s"),
        "{}",
        a.bottlenecks[1].reason
    );
}

#[test]
fn a_long_blocked_list_is_cut_but_its_count_stays_exact() {
    let names: Vec<String> = (0..=150).map(|i| format!("s{i:03}")).collect();
    let edges: Vec<(String, String)> = (1..=150).map(|c| (names[0].clone(), names[c].clone())).collect();
    let d = Dag::new(names, edges.iter().map(|(p, c)| (p.as_str(), c.as_str()))).0;
    let inputs: Vec<StepInput> = (0..=150)
        .map(|i| StepInput {
            estimate_ms: 1.0,
            estimate_source: EstimateSource::Default,
            runtime: if i == 0 {
                runtime(StepStatus::Error, 3, 3)
            } else {
                runtime(StepStatus::Pending, 0, 3)
            },
        })
        .collect();
    let a = analyze(&d, &inputs, &AnalysisConfig::default(), Utc::now()).expect("acyclic");
    let top = &a.bottlenecks[0];
    assert_eq!(
        (top.blocked_downstream, top.blocked_steps.len()),
        (150, BLOCKED_STEPS_LISTED)
    );
    assert_eq!(strs(&top.blocked_steps[..2]), ["s001", "s002"]);
    assert!(
        top.reason.contains("150 downstream steps cannot start"),
        "{}",
        top.reason
    );
}

#[test]
fn the_configuration_changes_scores_and_levels() {
    let (d, inputs) = troubled_mixed();
    let mut config = AnalysisConfig::default();
    config.state_severity.insert(StepStatus::Error, 1.0);
    config.state_severity.remove(&StepStatus::InProgress);
    config.severity_thresholds = config::SeverityThresholds {
        medium: 100.0,
        high: 200.0,
        critical: 1_000.0,
    };
    let a = analyze(&d, &inputs, &config, Utc::now()).expect("acyclic");
    let ranking = ranking(&a);
    assert_eq!(
        ranking,
        vec![
            ("validate", 180.0, Criticality::Medium),
            ("audit", 48.0, Criticality::Low)
        ]
    );
    assert_eq!((a.impact_score, a.criticality), (228.0, Criticality::High));
}

#[test]
fn a_cycle_is_refused_with_its_path() {
    let d = dag(&["a", "b"], &[("a", "b"), ("b", "a")]);
    let err = analyze(&d, &planned(&[1.0, 1.0]), &AnalysisConfig::default(), Utc::now()).expect_err("cyclic");
    assert_eq!(err.to_string(), "dependency cycle: a -> b -> a");
}

#[test]
fn estimates_prefer_observation_then_handler_then_default() {
    let config = AnalysisConfig::default();
    assert_eq!(
        estimate("http", Some(42.0), &config),
        (42.0, EstimateSource::Observed)
    );
    assert_eq!(estimate("noop", None, &config), (1.0, EstimateSource::Configured));
    assert_eq!(
        estimate("mystery", None, &config),
        (30_000.0, EstimateSource::Default)
    );
}

/// A random DAG: edges only from lower to higher index.
fn random_dag() -> impl Strategy<Value = (Dag, Vec<f64>)> {
    (1usize..12).prop_flat_map(|n| {
        let pairs: Vec<(usize, usize)> = (0..n).flat_map(|i| ((i + 1)..n).map(move |j| (i, j))).collect();
        (
            proptest::collection::vec(any::<bool>(), pairs.len()),
            proptest::collection::vec(1.0f64..100.0, n),
        )
            .prop_map(move |(keep, weights)| {
                let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
                let edges: Vec<(String, String)> = pairs
                    .iter()
                    .zip(keep)
                    .filter(|(_, k)| *k)
                    .map(|((i, j), _)| (names[*i].clone(), names[*j].clone()))
                    .collect();
                let (d, _) = Dag::new(names, edges.iter().map(|(a, b)| (a.as_str(), b.as_str())));
                (d, weights)
            })
    })
}

fn heaviest_by_brute_force(d: &Dag, weights: &[f64]) -> f64 {
    fn walk(d: &Dag, w: &[f64], i: usize) -> f64 {
        w[i] + d.children(i).iter().map(|&c| walk(d, w, c)).fold(0.0, f64::max)
    }
    d.roots()
        .into_iter()
        .map(|r| walk(d, weights, r))
        .fold(0.0, f64::max)
}

proptest! {
    #[test]
    fn the_critical_path_is_a_real_maximal_path_and_levels_respect_edges((d, weights) in random_dag()) {
        let a = analyze(&d, &planned(&weights), &AnalysisConfig::default(), Utc::now()).expect("acyclic by construction");
        let idx: Vec<usize> = a.critical_path.steps.iter().map(|n| d.index_of(n).expect("known step")).collect();
        prop_assert!(d.parents(idx[0]).is_empty(), "starts at a root");
        prop_assert!(d.children(*idx.last().expect("non-empty")).is_empty(), "ends at a leaf");
        for pair in idx.windows(2) {
            prop_assert!(d.children(pair[0]).contains(&pair[1]), "consecutive steps are joined by an edge");
        }
        let sum: f64 = idx.iter().map(|&i| weights[i]).sum();
        prop_assert!((sum - a.critical_path.estimated_duration_ms).abs() < 1e-6);
        prop_assert!((heaviest_by_brute_force(&d, &weights) - sum).abs() < 1e-6, "no heavier path exists");
        for node in &a.steps {
            for parent in &node.depends_on {
                let p = a.steps.iter().find(|s| &s.name == parent).expect("parent");
                prop_assert!(p.depth < node.depth);
            }
        }
        prop_assert_eq!(a.levels.iter().map(|l| l.steps.len()).sum::<usize>(), d.len());
    }

    #[test]
    fn any_back_edge_is_refused((d, weights) in random_dag(), back in any::<prop::sample::Index>()) {
        let order = d.topological_order().expect("acyclic");
        if order.len() >= 2 {
            let (first, last) = (order[0], order[order.len() - 1 - back.index(order.len() - 1)]);
            let names: Vec<String> = (0..d.len()).map(|i| d.name(i).to_owned()).collect();
            let mut edges: Vec<(String, String)> = (0..d.len())
                .flat_map(|c| d.parents(c).iter().map(move |&p| (p, c)).collect::<Vec<_>>())
                .map(|(p, c)| (names[p].clone(), names[c].clone()))
                .collect();
            // A path first → … → last plus last → first is a cycle.
            edges.push((names[first].clone(), names[last].clone()));
            edges.push((names[last].clone(), names[first].clone()));
            let (cyclic, _) = Dag::new(names, edges.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            prop_assert!(analyze(&cyclic, &planned(&weights), &AnalysisConfig::default(), Utc::now()).is_err());
        }
    }
}
