//! Path algorithms over a DAG in topological order, each O(steps + edges)
//! except `downstream_of`, which is O((steps + edges) · sources / 64) plus
//! one call per (source, downstream step) pair.

use crate::domain::dag::Dag;

/// The heaviest chain from a root to a leaf, by per-step weight.
pub fn critical_path(dag: &Dag, order: &[usize], weight: &[f64]) -> (Vec<usize>, f64) {
    let mut best = vec![0.0_f64; dag.len()];
    let mut via: Vec<Option<usize>> = vec![None; dag.len()];
    for &i in order {
        let from = dag
            .parents(i)
            .iter()
            .copied()
            .max_by(|&a, &b| best[a].total_cmp(&best[b]));
        best[i] = from.map_or(0.0, |p| best[p]) + weight[i];
        via[i] = from;
    }
    let Some(end) = (0..dag.len()).max_by(|&a, &b| best[a].total_cmp(&best[b]).then(b.cmp(&a))) else {
        return (Vec::new(), 0.0);
    };
    let mut path = vec![end];
    let mut current = end;
    while let Some(previous) = via[current] {
        path.push(previous);
        current = previous;
    }
    path.reverse();
    (path, best[end])
}

/// Steps on the longest chain from each step down to a leaf (a leaf has 0).
pub fn chain_below(dag: &Dag, order: &[usize]) -> Vec<usize> {
    let mut below = vec![0usize; dag.len()];
    for &i in order.iter().rev() {
        below[i] = dag.children(i).iter().map(|&c| below[c] + 1).max().unwrap_or(0);
    }
    below
}

/// Calls `visit(k, step)` for every step downstream of `sources[k]` (not
/// including the source itself), steps in index order.
///
/// One walk per source would cost O(sources · (steps + edges)); instead each
/// step carries a bitset of the sources above it, built in one topological
/// pass, so a thousand failing steps cost a few word operations per edge.
pub fn downstream_of(dag: &Dag, order: &[usize], sources: &[usize], mut visit: impl FnMut(usize, usize)) {
    let words = sources.len().div_ceil(64);
    if words == 0 {
        return;
    }
    let mut source_bit: Vec<Option<usize>> = vec![None; dag.len()];
    for (k, &s) in sources.iter().enumerate() {
        source_bit[s] = Some(k);
    }
    let mut reach = vec![0u64; dag.len() * words];
    let mut row = vec![0u64; words];
    for &i in order {
        row.fill(0);
        for &p in dag.parents(i) {
            for (w, bits) in row.iter_mut().enumerate() {
                *bits |= reach[p * words + w];
            }
            if let Some(k) = source_bit[p] {
                row[k / 64] |= 1 << (k % 64);
            }
        }
        reach[i * words..(i + 1) * words].copy_from_slice(&row);
    }
    for (i, row) in reach.chunks_exact(words).enumerate() {
        for (w, &word) in row.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                visit(w * 64 + bits.trailing_zeros() as usize, i);
                bits &= bits - 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(names: &[&str], edges: &[(&str, &str)]) -> Dag {
        Dag::new(
            names.iter().map(|s| s.to_string()).collect(),
            edges.iter().copied(),
        )
        .0
    }

    #[test]
    fn downstream_sets_match_a_walk_from_each_source() {
        // Past 64 sources the bitsets span several words.
        let n = 200;
        let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let edges: Vec<(String, String)> = (1..n)
            .flat_map(|c| [(c - 1, c), (c / 2, c)])
            .map(|(p, c)| (names[p].clone(), names[c].clone()))
            .collect();
        let d = Dag::new(names, edges.iter().map(|(p, c)| (p.as_str(), c.as_str()))).0;
        let order = d.topological_order().expect("acyclic");
        let sources: Vec<usize> = (0..n).step_by(2).collect();
        let mut found = vec![Vec::new(); sources.len()];
        downstream_of(&d, &order, &sources, |k, step| found[k].push(step));
        for (k, &s) in sources.iter().enumerate() {
            let mut seen = vec![false; n];
            let mut stack = d.children(s).to_vec();
            while let Some(i) = stack.pop() {
                if !std::mem::replace(&mut seen[i], true) {
                    stack.extend_from_slice(d.children(i));
                }
            }
            let walked: Vec<usize> = (0..n).filter(|&i| seen[i]).collect();
            assert_eq!(found[k], walked, "source {s}");
        }
    }

    #[test]
    fn the_heaviest_branch_of_a_diamond_is_critical() {
        let d = dag(
            &["a", "b", "c", "d"],
            &[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
        );
        let order = d.topological_order().expect("acyclic");
        let (path, total) = critical_path(&d, &order, &[1.0, 5.0, 2.0, 1.0]);
        assert_eq!((path, total), (vec![0, 1, 3], 7.0));
        assert_eq!(chain_below(&d, &order), vec![2, 1, 1, 0]);
        let mut pairs = Vec::new();
        downstream_of(&d, &order, &[1, 0], |k, step| pairs.push((k, step)));
        assert_eq!(pairs, vec![(1, 1), (1, 2), (0, 3), (1, 3)]);
    }
}
