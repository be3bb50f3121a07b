// The tabs a first visit opens with: the main workflows, in the order a
// newcomer meets them. GraphiQL keeps the user's own tabs in localStorage
// afterwards, so these only seed an empty playground.

const registerTemplate = `# Register a task template: a DAG of named steps, each bound to a handler.
# Registering the same content again is a no-op; new content under the same
# version needs replace: true.
mutation RegisterTemplate($yaml: String!) {
  registerTaskTemplate(yaml: $yaml) {
    fullName
    version
    available
    stepTemplates { name handler dependsOn }
  }
}
`;

const registerVariables = JSON.stringify(
  {
    yaml: [
      'name: greet_customer',
      'namespace: playground',
      'version: 1.0.0',
      'description: Three steps in a line',
      'steps:',
      '  - name: start',
      '    handler: noop',
      '  - name: greet',
      '    handler: echo',
      '    depends_on: [start]',
      '    config: { greeting: hello }',
      '  - name: finish',
      '    handler: noop',
      '    depends_on: [greet]',
      '',
    ].join('\n'),
  },
  null,
  2,
);

const createTask = `# Create a task from a template with a JSON context. Copy the id it returns
# into the next tabs' variables.
mutation CreateTask($input: CreateTaskInput!) {
  createTask(input: $input) {
    created
    task { id status namespace name version createdAt }
  }
}
`;

const createVariables = JSON.stringify(
  {
    input: {
      namespace: 'playground',
      name: 'greet_customer',
      context: { customer: 'Ada' },
    },
  },
  null,
  2,
);

const followTask = `# Follow a task live: its state now, then after every change, until it ends.
subscription FollowTask($id: ID!) {
  taskUpdated(id: $id) {
    status
    executionStatus
    steps { name status attempts results }
  }
}
`;

const watchEvents = `# Every lifecycle event as it is committed, on any replica.
# Filter by catalog names or prefixes (step.*), a task id or a namespace.
subscription WatchEvents {
  events(names: ["task.*", "step.completed", "step.failed"]) {
    name
    at
    taskId
    payload
  }
}
`;

const inspectGraph = `# A task's step graph with the analysis: critical path, bottlenecks, impact.
query InspectGraph($id: ID!) {
  task(id: $id) {
    status
    dependencyGraph {
      impactScore
      criticalityLevel
      criticalPath { steps estimatedDurationMs remainingDurationMs }
      bottleneckAnalysis { stepName severity blockedDownstream }
      levels { depth steps }
      maxParallelism
    }
  }
}
`;

const taskId = JSON.stringify({ id: 'paste a task id here' }, null, 2);

export const exampleTabs = [
  { query: registerTemplate, variables: registerVariables },
  { query: createTask, variables: createVariables },
  { query: followTask, variables: taskId },
  { query: watchEvents },
  { query: inspectGraph, variables: taskId },
];
