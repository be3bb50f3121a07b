// A step graph drawn from a dagre layout: nodes coloured by status, the
// critical path's edges drawn heavy, bottlenecks ringed. Nodes are buttons:
// Tab reaches them, Enter or Space opens the step.
import { useMemo } from 'react';
import { NODE, pathEdges, place } from '../lib/graph.js';

export function Dag({ names, edges, statuses = {}, critical = [], bottlenecks = [], selected, onSelect, label }) {
  const shape = useMemo(() => place(names, edges), [names.join('|'), edges.map((e) => `${e.from}>${e.to}`).join('|')]);
  const onPath = pathEdges(critical);
  const onCritical = new Set(critical);
  const slow = new Set(bottlenecks);
  const key = (e, fn) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), fn());
  return (
    <div className="dag" role="group" aria-label={label}>
      <svg width={shape.width} height={shape.height} viewBox={`0 0 ${shape.width} ${shape.height}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" className="arrowhead" />
          </marker>
        </defs>
        {shape.edges.map((e) => (
          <polyline
            key={`${e.from}→${e.to}`}
            className={onPath.has(`${e.from}→${e.to}`) ? 'edge critical' : 'edge'}
            points={e.points.map((p) => `${p.x},${p.y}`).join(' ')}
            markerEnd="url(#arrow)"
          />
        ))}
        {shape.nodes.map((n) => {
          const status = statuses[n.name];
          const classes = ['node', status ? `s-${status}` : 'template'];
          if (slow.has(n.name)) classes.push('bottleneck');
          if (onCritical.has(n.name)) classes.push('on-path');
          if (selected === n.name) classes.push('selected');
          const pick = () => onSelect?.(n.name);
          return (
            <g
              key={n.name}
              className={classes.join(' ')}
              data-step={n.name}
              data-status={status ?? ''}
              transform={`translate(${n.x - NODE.width / 2},${n.y - NODE.height / 2})`}
              tabIndex={onSelect ? 0 : undefined}
              role={onSelect ? 'button' : 'img'}
              aria-label={`${n.name}${status ? `: ${status}` : ''}${slow.has(n.name) ? ', bottleneck' : ''}`}
              onClick={pick}
              onKeyDown={(e) => key(e, pick)}
            >
              <rect width={NODE.width} height={NODE.height} rx="6" />
              <text x={NODE.width / 2} y={status ? 17 : 25} textAnchor="middle" className="name">
                {n.name.length > 22 ? `${n.name.slice(0, 21)}…` : n.name}
              </text>
              {status && (
                <text x={NODE.width / 2} y={32} textAnchor="middle" className="sub">
                  {status}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
