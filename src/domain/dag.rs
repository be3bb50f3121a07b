//! A directed graph of steps by index: parents, children, cycle detection and
//! topological order. Templates and tasks both build one.

use std::collections::HashMap;

/// Steps `0..len` with edges parent → child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    names: Vec<String>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
}

impl Dag {
    /// Build from names and `(parent name, child name)` edges; edges naming an
    /// unknown step are returned instead of added.
    pub fn new<'a>(
        names: Vec<String>,
        edges: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Self, Vec<(String, String)>) {
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let mut parents = vec![Vec::new(); names.len()];
        let mut children = vec![Vec::new(); names.len()];
        let mut unknown = Vec::new();
        for (parent, child) in edges {
            match (index.get(parent), index.get(child)) {
                (Some(&p), Some(&c)) => {
                    if !parents[c].contains(&p) {
                        parents[c].push(p);
                        children[p].push(c);
                    }
                }
                _ => unknown.push((parent.to_owned(), child.to_owned())),
            }
        }
        drop(index);
        (
            Self {
                names,
                parents,
                children,
            },
            unknown,
        )
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True for a graph without steps.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Name of step `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Index of the step with this name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Parents of step `i`.
    pub fn parents(&self, i: usize) -> &[usize] {
        &self.parents[i]
    }

    /// Children of step `i`.
    pub fn children(&self, i: usize) -> &[usize] {
        &self.children[i]
    }

    /// Steps without parents.
    pub fn roots(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.parents[i].is_empty()).collect()
    }

    /// Steps without children.
    pub fn leaves(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.children[i].is_empty()).collect()
    }

    /// One cycle as step names, first name repeated at the end
    /// (`["a", "b", "a"]`), or `None` for an acyclic graph.
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut mark = vec![Mark::New; self.len()];
        for start in 0..self.len() {
            if mark[start] != Mark::New {
                continue;
            }
            // Iterative DFS: (node, next child position); `path` mirrors the stack.
            let mut stack = vec![(start, 0usize)];
            mark[start] = Mark::OnPath;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&child) = self.children[node].get(*next) {
                    *next += 1;
                    match mark[child] {
                        Mark::New => {
                            mark[child] = Mark::OnPath;
                            stack.push((child, 0));
                        }
                        Mark::OnPath => {
                            let from = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                            let mut cycle: Vec<String> = stack[from..]
                                .iter()
                                .map(|&(n, _)| self.names[n].clone())
                                .collect();
                            cycle.push(self.names[child].clone());
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    stack.pop();
                }
            }
        }
        None
    }

    /// Kahn's order (parents before children, ties by declaration order), or
    /// `None` when the graph has a cycle.
    pub fn topological_order(&self) -> Option<Vec<usize>> {
        let mut remaining: Vec<usize> = self.parents.iter().map(Vec::len).collect();
        let mut ready: std::collections::VecDeque<usize> =
            (0..self.len()).filter(|&i| remaining[i] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &c in &self.children[i] {
                remaining[c] -= 1;
                if remaining[c] == 0 {
                    ready.push_back(c);
                }
            }
        }
        (order.len() == self.len()).then_some(order)
    }

    /// Longest distance from any root (roots have depth 0), given
    /// [`Self::topological_order`].
    pub fn depths(&self, order: &[usize]) -> Vec<usize> {
        let mut depth = vec![0usize; self.len()];
        for &i in order {
            for &c in &self.children[i] {
                depth[c] = depth[c].max(depth[i] + 1);
            }
        }
        depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(names: &[&str], edges: &[(&str, &str)]) -> Dag {
        let (d, unknown) = Dag::new(
            names.iter().map(|s| s.to_string()).collect(),
            edges.iter().copied(),
        );
        assert!(unknown.is_empty());
        d
    }

    #[test]
    fn diamond_orders_and_measures_depth() {
        let d = dag(
            &["a", "b", "c", "d"],
            &[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
        );
        assert_eq!(d.topological_order(), Some(vec![0, 1, 2, 3]));
        let order = d.topological_order().expect("acyclic");
        assert_eq!(d.depths(&order), vec![0, 1, 1, 2]);
        assert_eq!(d.roots(), vec![0]);
        assert_eq!(d.leaves(), vec![3]);
        assert_eq!(d.find_cycle(), None);
    }

    #[test]
    fn a_cycle_is_named_from_start_to_start() {
        let d = dag(
            &["a", "b", "c", "x"],
            &[("x", "a"), ("a", "b"), ("b", "c"), ("c", "a")],
        );
        assert_eq!(
            d.find_cycle(),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(d.topological_order(), None);
        let self_loop = dag(&["s"], &[("s", "s")]);
        assert_eq!(self_loop.find_cycle(), Some(vec!["s".into(), "s".into()]));
    }

    #[test]
    fn unknown_edge_ends_are_reported_not_added() {
        let (d, unknown) = Dag::new(vec!["a".into()], [("ghost", "a")]);
        assert_eq!(unknown, vec![("ghost".to_string(), "a".to_string())]);
        assert!(d.parents(0).is_empty());
    }

    #[test]
    fn duplicate_edges_count_once() {
        let d = dag(&["a", "b"], &[("a", "b"), ("a", "b")]);
        assert_eq!(d.parents(1), &[0]);
    }
}
