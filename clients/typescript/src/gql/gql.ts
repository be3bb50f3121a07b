/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation DoctorCreateTask($input: CreateTaskInput!) {\n  createTask(input: $input) {\n    task {\n      id\n      namespace\n      name\n      status\n      traceId\n    }\n  }\n}\n\nquery DoctorTask($id: ID!) {\n  task(id: $id) {\n    id\n    status\n    traceId\n    steps {\n      name\n      handler\n      external\n      status\n      attempts\n    }\n  }\n}": typeof types.DoctorCreateTaskDocument,
    "query ExportMetrics($scope: MetricsScope!, $exporter: String) {\n  metrics(scope: $scope, exporter: $exporter) {\n    body\n  }\n}": typeof types.ExportMetricsDocument,
    "fragment TaskSummary on Task {\n  id\n  namespace\n  name\n  version\n  status\n  executionStatus\n  createdAt\n  updatedAt\n  completedAt\n}\n\nfragment StepSummary on Step {\n  id\n  name\n  handler\n  external\n  status\n  attempts\n  maxAttempts\n  results\n  error {\n    message\n    retryable\n  }\n  startedAt\n  completedAt\n}\n\nmutation CreateTask($input: CreateTaskInput!) {\n  createTask(input: $input) {\n    created\n    task {\n      ...TaskSummary\n    }\n  }\n}\n\nquery GetTask($id: ID!) {\n  task(id: $id) {\n    ...TaskSummary\n    context\n    tags\n    correlationId\n    steps {\n      ...StepSummary\n    }\n  }\n}\n\nmutation CancelTask($id: ID!, $reason: String) {\n  cancelTask(id: $id, reason: $reason) {\n    ...TaskSummary\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...TaskSummary\n  }\n}\n\nsubscription TaskUpdated($id: ID!) {\n  taskUpdated(id: $id) {\n    ...TaskSummary\n    steps {\n      ...StepSummary\n    }\n  }\n}": typeof types.TaskSummaryFragmentDoc,
    "mutation RegisterTaskTemplate($yaml: String!, $replace: Boolean! = false) {\n  registerTaskTemplate(yaml: $yaml, replace: $replace) {\n    namespace\n    name\n    version\n    fullName\n    available\n    stepTemplates {\n      name\n      handler\n      external\n      dependsOn\n    }\n  }\n}": typeof types.RegisterTaskTemplateDocument,
    "subscription WorkAvailable($handlers: [String!]!) {\n  workAvailable(handlers: $handlers)\n}\n\nmutation ClaimSteps($input: ClaimStepsInput!) {\n  claimSteps(input: $input) {\n    leaseToken\n    leaseExpiresAt\n    attempt\n    idempotencyKey\n    context\n    parentResults\n    config\n    traceparent\n    step {\n      id\n      name\n      handler\n      task {\n        id\n        namespace\n        name\n      }\n    }\n  }\n}\n\nmutation HeartbeatStep($stepId: ID!, $leaseToken: String!, $extendSeconds: Int) {\n  heartbeatStep(\n    stepId: $stepId\n    leaseToken: $leaseToken\n    extendSeconds: $extendSeconds\n  )\n}\n\nmutation CompleteStep($stepId: ID!, $leaseToken: String!, $results: JSON) {\n  completeStep(stepId: $stepId, leaseToken: $leaseToken, results: $results) {\n    id\n    status\n  }\n}\n\nmutation FailStep($stepId: ID!, $leaseToken: String!, $error: String!, $retryable: Boolean! = true, $retryAfterSeconds: Int) {\n  failStep(\n    stepId: $stepId\n    leaseToken: $leaseToken\n    error: $error\n    retryable: $retryable\n    retryAfterSeconds: $retryAfterSeconds\n  ) {\n    id\n    status\n    attempts\n  }\n}": typeof types.WorkAvailableDocument,
};
const documents: Documents = {
    "mutation DoctorCreateTask($input: CreateTaskInput!) {\n  createTask(input: $input) {\n    task {\n      id\n      namespace\n      name\n      status\n      traceId\n    }\n  }\n}\n\nquery DoctorTask($id: ID!) {\n  task(id: $id) {\n    id\n    status\n    traceId\n    steps {\n      name\n      handler\n      external\n      status\n      attempts\n    }\n  }\n}": types.DoctorCreateTaskDocument,
    "query ExportMetrics($scope: MetricsScope!, $exporter: String) {\n  metrics(scope: $scope, exporter: $exporter) {\n    body\n  }\n}": types.ExportMetricsDocument,
    "fragment TaskSummary on Task {\n  id\n  namespace\n  name\n  version\n  status\n  executionStatus\n  createdAt\n  updatedAt\n  completedAt\n}\n\nfragment StepSummary on Step {\n  id\n  name\n  handler\n  external\n  status\n  attempts\n  maxAttempts\n  results\n  error {\n    message\n    retryable\n  }\n  startedAt\n  completedAt\n}\n\nmutation CreateTask($input: CreateTaskInput!) {\n  createTask(input: $input) {\n    created\n    task {\n      ...TaskSummary\n    }\n  }\n}\n\nquery GetTask($id: ID!) {\n  task(id: $id) {\n    ...TaskSummary\n    context\n    tags\n    correlationId\n    steps {\n      ...StepSummary\n    }\n  }\n}\n\nmutation CancelTask($id: ID!, $reason: String) {\n  cancelTask(id: $id, reason: $reason) {\n    ...TaskSummary\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...TaskSummary\n  }\n}\n\nsubscription TaskUpdated($id: ID!) {\n  taskUpdated(id: $id) {\n    ...TaskSummary\n    steps {\n      ...StepSummary\n    }\n  }\n}": types.TaskSummaryFragmentDoc,
    "mutation RegisterTaskTemplate($yaml: String!, $replace: Boolean! = false) {\n  registerTaskTemplate(yaml: $yaml, replace: $replace) {\n    namespace\n    name\n    version\n    fullName\n    available\n    stepTemplates {\n      name\n      handler\n      external\n      dependsOn\n    }\n  }\n}": types.RegisterTaskTemplateDocument,
    "subscription WorkAvailable($handlers: [String!]!) {\n  workAvailable(handlers: $handlers)\n}\n\nmutation ClaimSteps($input: ClaimStepsInput!) {\n  claimSteps(input: $input) {\n    leaseToken\n    leaseExpiresAt\n    attempt\n    idempotencyKey\n    context\n    parentResults\n    config\n    traceparent\n    step {\n      id\n      name\n      handler\n      task {\n        id\n        namespace\n        name\n      }\n    }\n  }\n}\n\nmutation HeartbeatStep($stepId: ID!, $leaseToken: String!, $extendSeconds: Int) {\n  heartbeatStep(\n    stepId: $stepId\n    leaseToken: $leaseToken\n    extendSeconds: $extendSeconds\n  )\n}\n\nmutation CompleteStep($stepId: ID!, $leaseToken: String!, $results: JSON) {\n  completeStep(stepId: $stepId, leaseToken: $leaseToken, results: $results) {\n    id\n    status\n  }\n}\n\nmutation FailStep($stepId: ID!, $leaseToken: String!, $error: String!, $retryable: Boolean! = true, $retryAfterSeconds: Int) {\n  failStep(\n    stepId: $stepId\n    leaseToken: $leaseToken\n    error: $error\n    retryable: $retryable\n    retryAfterSeconds: $retryAfterSeconds\n  ) {\n    id\n    status\n    attempts\n  }\n}": types.WorkAvailableDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation DoctorCreateTask($input: CreateTaskInput!) {\n  createTask(input: $input) {\n    task {\n      id\n      namespace\n      name\n      status\n      traceId\n    }\n  }\n}\n\nquery DoctorTask($id: ID!) {\n  task(id: $id) {\n    id\n    status\n    traceId\n    steps {\n      name\n      handler\n      external\n      status\n      attempts\n    }\n  }\n}"): typeof import('./graphql.js').DoctorCreateTaskDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ExportMetrics($scope: MetricsScope!, $exporter: String) {\n  metrics(scope: $scope, exporter: $exporter) {\n    body\n  }\n}"): typeof import('./graphql.js').ExportMetricsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment TaskSummary on Task {\n  id\n  namespace\n  name\n  version\n  status\n  executionStatus\n  createdAt\n  updatedAt\n  completedAt\n}\n\nfragment StepSummary on Step {\n  id\n  name\n  handler\n  external\n  status\n  attempts\n  maxAttempts\n  results\n  error {\n    message\n    retryable\n  }\n  startedAt\n  completedAt\n}\n\nmutation CreateTask($input: CreateTaskInput!) {\n  createTask(input: $input) {\n    created\n    task {\n      ...TaskSummary\n    }\n  }\n}\n\nquery GetTask($id: ID!) {\n  task(id: $id) {\n    ...TaskSummary\n    context\n    tags\n    correlationId\n    steps {\n      ...StepSummary\n    }\n  }\n}\n\nmutation CancelTask($id: ID!, $reason: String) {\n  cancelTask(id: $id, reason: $reason) {\n    ...TaskSummary\n  }\n}\n\nmutation RetryTask($id: ID!) {\n  retryTask(id: $id) {\n    ...TaskSummary\n  }\n}\n\nsubscription TaskUpdated($id: ID!) {\n  taskUpdated(id: $id) {\n    ...TaskSummary\n    steps {\n      ...StepSummary\n    }\n  }\n}"): typeof import('./graphql.js').TaskSummaryFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RegisterTaskTemplate($yaml: String!, $replace: Boolean! = false) {\n  registerTaskTemplate(yaml: $yaml, replace: $replace) {\n    namespace\n    name\n    version\n    fullName\n    available\n    stepTemplates {\n      name\n      handler\n      external\n      dependsOn\n    }\n  }\n}"): typeof import('./graphql.js').RegisterTaskTemplateDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription WorkAvailable($handlers: [String!]!) {\n  workAvailable(handlers: $handlers)\n}\n\nmutation ClaimSteps($input: ClaimStepsInput!) {\n  claimSteps(input: $input) {\n    leaseToken\n    leaseExpiresAt\n    attempt\n    idempotencyKey\n    context\n    parentResults\n    config\n    traceparent\n    step {\n      id\n      name\n      handler\n      task {\n        id\n        namespace\n        name\n      }\n    }\n  }\n}\n\nmutation HeartbeatStep($stepId: ID!, $leaseToken: String!, $extendSeconds: Int) {\n  heartbeatStep(\n    stepId: $stepId\n    leaseToken: $leaseToken\n    extendSeconds: $extendSeconds\n  )\n}\n\nmutation CompleteStep($stepId: ID!, $leaseToken: String!, $results: JSON) {\n  completeStep(stepId: $stepId, leaseToken: $leaseToken, results: $results) {\n    id\n    status\n  }\n}\n\nmutation FailStep($stepId: ID!, $leaseToken: String!, $error: String!, $retryable: Boolean! = true, $retryAfterSeconds: Int) {\n  failStep(\n    stepId: $stepId\n    leaseToken: $leaseToken\n    error: $error\n    retryable: $retryable\n    retryAfterSeconds: $retryAfterSeconds\n  ) {\n    id\n    status\n    attempts\n  }\n}"): typeof import('./graphql.js').WorkAvailableDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
