//! Workflow shapes used across tests: linear-4, diamond, tree, fan-out 1→20→1
//! and a mixed DAG, rendered as templates with a chosen handler per step.

use std::collections::{BTreeSet, HashMap};

pub struct Shape {
    pub name: &'static str,
    /// (step, parents) in declaration order.
    pub steps: Vec<(String, Vec<String>)>,
}

fn step(name: &str, parents: &[&str]) -> (String, Vec<String>) {
    (name.to_owned(), parents.iter().map(|p| (*p).to_owned()).collect())
}

pub fn all() -> Vec<Shape> {
    let mut fanout = vec![step("start", &[])];
    let workers: Vec<String> = (1..=20).map(|i| format!("w{i:02}")).collect();
    for w in &workers {
        fanout.push((w.clone(), vec!["start".to_owned()]));
    }
    fanout.push(("join".to_owned(), workers));
    vec![
        Shape {
            name: "linear",
            steps: vec![
                step("a", &[]),
                step("b", &["a"]),
                step("c", &["b"]),
                step("d", &["c"]),
            ],
        },
        Shape {
            name: "diamond",
            steps: vec![
                step("a", &[]),
                step("b", &["a"]),
                step("c", &["a"]),
                step("d", &["b", "c"]),
            ],
        },
        Shape {
            name: "tree",
            steps: vec![
                step("root", &[]),
                step("l", &["root"]),
                step("r", &["root"]),
                step("ll", &["l"]),
                step("lr", &["l"]),
                step("rl", &["r"]),
                step("rr", &["r"]),
            ],
        },
        Shape {
            name: "fanout",
            steps: fanout,
        },
        Shape {
            name: "mixed",
            steps: vec![
                step("fetch", &[]),
                step("config", &[]),
                step("validate", &["fetch"]),
                step("enrich", &["fetch", "config"]),
                step("price", &["validate", "enrich"]),
                step("audit", &["config"]),
                step("reserve", &["price"]),
                step("notify", &["reserve", "audit"]),
                step("archive", &["validate"]),
            ],
        },
    ]
}

impl Shape {
    /// A step with children (so failures have something downstream).
    pub fn middle(&self) -> &str {
        let parents: BTreeSet<&str> = self
            .steps
            .iter()
            .flat_map(|(_, p)| p.iter().map(String::as_str))
            .collect();
        self.steps
            .iter()
            .map(|(n, _)| n.as_str())
            .find(|n| parents.contains(n) && self.steps.iter().any(|(m, p)| m == n && !p.is_empty()))
            .or_else(|| parents.iter().next().copied())
            .unwrap_or("a")
    }

    /// Every step downstream of `name`.
    pub fn descendants(&self, name: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![name.to_owned()];
        while let Some(n) = frontier.pop() {
            for (child, parents) in &self.steps {
                if parents.contains(&n) && found.insert(child.clone()) {
                    frontier.push(child.clone());
                }
            }
        }
        found
    }

    /// Template YAML; `special` overrides handler/config lines per step.
    pub fn yaml(&self, template_name: &str, special: &HashMap<&str, &str>) -> String {
        let mut out = format!("name: {template_name}\nsteps:\n");
        for (name, parents) in &self.steps {
            let body = special.get(name.as_str()).copied().unwrap_or("handler: echo");
            out.push_str(&format!("  - name: {name}\n"));
            for line in body.lines() {
                out.push_str(&format!("    {line}\n"));
            }
            if !parents.is_empty() {
                out.push_str(&format!("    depends_on: [{}]\n", parents.join(", ")));
            }
        }
        out
    }
}
