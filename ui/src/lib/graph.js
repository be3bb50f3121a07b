// Lays a step graph out with dagre (top to bottom, parents above children).
import { graphlib, layout } from '@dagrejs/dagre';

export const NODE = { width: 168, height: 40 };

/** `{nodes: [{name, x, y}], edges: [{from, to, points}], width, height}`. */
export function place(names, edges) {
  const g = new graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 44, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const name of names) g.setNode(name, { ...NODE });
  for (const e of edges) if (g.hasNode(e.from) && g.hasNode(e.to)) g.setEdge(e.from, e.to);
  layout(g);
  const { width = 0, height = 0 } = g.graph();
  return {
    nodes: names.map((name) => ({ name, x: g.node(name).x, y: g.node(name).y })),
    edges: g.edges().map(({ v, w }) => ({ from: v, to: w, points: g.edge(v, w).points })),
    width,
    height,
  };
}

/** Consecutive pairs of the critical path, as `from→to` keys. */
export function pathEdges(steps) {
  const keys = new Set();
  for (let i = 1; i < steps.length; i += 1) keys.add(`${steps[i - 1]}→${steps[i]}`);
  return keys;
}
