/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** Input of `claimSteps`. */
export type ClaimStepsInput = {
  /** Handler names this worker serves. */
  handlers: Array<string>;
  /** Lease length in seconds (1–3600); heartbeat before it runs out. */
  leaseSeconds?: number;
  /** Most steps to claim (1–100). */
  limit?: number;
  /** Who claims; becomes the lease owner. */
  workerId: string;
};

/** Input of `createTask`. */
export type CreateTaskInput = {
  /** Skippable steps to bypass. */
  bypassSteps?: Array<string> | null | undefined;
  /** The task's JSON context (checked against the template's context_schema). */
  context: unknown;
  /** Start no step before this many seconds from now (instead of `runAt`). */
  delaySeconds?: number | null | undefined;
  /** The same key returns the same task (created: false). */
  idempotencyKey?: string | null | undefined;
  /** Who asks. */
  initiator?: string | null | undefined;
  /** Template name (required unless the deprecated `namedTaskName` is given). */
  name?: string | null | undefined;
  /**
   * Synonym of `name` from the original Tasker API.
   * @deprecated use name
   */
  namedTaskName?: string | null | undefined;
  /** Template namespace (default `default`). */
  namespace?: string | null | undefined;
  /**
   * 1 (least urgent) to 4 (most urgent); default: the template's `priority`, else 2.
   * Claims take more urgent steps first, then older ones; a step that has
   * waited `engine.priority_ageing_seconds` counts as one level more urgent.
   */
  priority?: number | null | undefined;
  /** Why. */
  reason?: string | null | undefined;
  /**
   * Start no step before this time (RFC 3339); the task is SCHEDULED until
   * then and can be cancelled. A time in the past starts at once.
   */
  runAt?: string | null | undefined;
  /** Which system asks. */
  sourceSystem?: string | null | undefined;
  /** Labels for filtering. */
  tags?: Array<string> | null | undefined;
  /** Template version (default: the highest registered). */
  version?: string | null | undefined;
};

/** Where a task stands, derived from its steps. */
export type ExecutionStatus =
  /** Every step is satisfied. */
  | 'ALL_COMPLETE'
  /** Nothing can move: a failure blocks the remaining steps. */
  | 'BLOCKED_BY_FAILURES'
  /** Some step can be claimed now. */
  | 'HAS_READY_STEPS'
  /** Steps are running and none waits to be claimed. */
  | 'PROCESSING'
  /** Steps wait for parents or a retry backoff. */
  | 'WAITING_FOR_DEPENDENCIES';

/** Whose metrics. */
export type MetricsScope =
  /** Every replica's, added up through the metrics cache (Redis). */
  | 'CLUSTER'
  /** This replica's, process metrics included. */
  | 'LOCAL';

/** Lifecycle of a step. */
export type StepStatus =
  /** Cancelled with its task. */
  | 'CANCELLED'
  /** The handler succeeded, the sleep ended or the approval was given. */
  | 'COMPLETE'
  /** Every parent is satisfied; claimable. */
  | 'ENQUEUED'
  /** Failed for good. */
  | 'ERROR'
  /** Claimed under a lease; a handler runs it. */
  | 'IN_PROGRESS'
  /** Waiting for its parents. */
  | 'PENDING'
  /** Resolved by an operator; satisfies its dependents. */
  | 'RESOLVED_MANUALLY'
  /** Bypassed at task creation, or its `when` condition was false. */
  | 'SKIPPED'
  /** A sleep or an approval waits (no lease, no handler slot); see waitingFor. */
  | 'WAITING'
  /** The last attempt failed; claimable again once its backoff elapsed. */
  | 'WAITING_FOR_RETRY';

/** Lifecycle of a task. */
export type TaskStatus =
  /** Cancelled; no new step starts. */
  | 'CANCELLED'
  /** Every step completed (or was skipped). */
  | 'COMPLETE'
  /** No step can make progress and at least one failed for good (retryable by an operator). */
  | 'ERROR'
  /** At least one step has started and the task is not finished. */
  | 'IN_PROGRESS'
  /** Created; no step has started yet. */
  | 'PENDING'
  /** Finished with every step satisfied, at least one by manual resolution. */
  | 'RESOLVED_MANUALLY'
  /** Created to start later (`runAt`): no step is claimed before then. */
  | 'SCHEDULED';

export type DoctorCreateTaskMutationVariables = Exact<{
  input: CreateTaskInput;
}>;


export type DoctorCreateTaskMutation = { createTask: { task: { id: string, namespace: string, name: string, status: TaskStatus, traceId: string | null } } };

export type DoctorTaskQueryVariables = Exact<{
  id: string;
}>;


export type DoctorTaskQuery = { task: { id: string, status: TaskStatus, traceId: string | null, steps: Array<{ name: string, handler: string, external: boolean, status: StepStatus, attempts: number }> } | null };

export type ExportMetricsQueryVariables = Exact<{
  scope: MetricsScope;
  exporter?: string | null | undefined;
}>;


export type ExportMetricsQuery = { metrics: { body: string } };

export type TaskSummaryFragment = { id: string, namespace: string, name: string, version: string, status: TaskStatus, executionStatus: ExecutionStatus, createdAt: string, updatedAt: string, completedAt: string | null };

export type StepSummaryFragment = { id: string, name: string, handler: string, external: boolean, status: StepStatus, attempts: number, maxAttempts: number, results: unknown, startedAt: string | null, completedAt: string | null, error: { message: string, retryable: boolean } | null };

export type CreateTaskMutationVariables = Exact<{
  input: CreateTaskInput;
}>;


export type CreateTaskMutation = { createTask: { created: boolean, task: { id: string, namespace: string, name: string, version: string, status: TaskStatus, executionStatus: ExecutionStatus, createdAt: string, updatedAt: string, completedAt: string | null } } };

export type GetTaskQueryVariables = Exact<{
  id: string;
}>;


export type GetTaskQuery = { task: { context: unknown, tags: Array<string>, correlationId: string | null, id: string, namespace: string, name: string, version: string, status: TaskStatus, executionStatus: ExecutionStatus, createdAt: string, updatedAt: string, completedAt: string | null, steps: Array<{ id: string, name: string, handler: string, external: boolean, status: StepStatus, attempts: number, maxAttempts: number, results: unknown, startedAt: string | null, completedAt: string | null, error: { message: string, retryable: boolean } | null }> } | null };

export type CancelTaskMutationVariables = Exact<{
  id: string;
  reason?: string | null | undefined;
}>;


export type CancelTaskMutation = { cancelTask: { id: string, namespace: string, name: string, version: string, status: TaskStatus, executionStatus: ExecutionStatus, createdAt: string, updatedAt: string, completedAt: string | null } };

export type RetryTaskMutationVariables = Exact<{
  id: string;
}>;


export type RetryTaskMutation = { retryTask: { id: string, namespace: string, name: string, version: string, status: TaskStatus, executionStatus: ExecutionStatus, createdAt: string, updatedAt: string, completedAt: string | null } };

export type TaskUpdatedSubscriptionVariables = Exact<{
  id: string;
}>;


export type TaskUpdatedSubscription = { taskUpdated: { id: string, namespace: string, name: string, version: string, status: TaskStatus, executionStatus: ExecutionStatus, createdAt: string, updatedAt: string, completedAt: string | null, steps: Array<{ id: string, name: string, handler: string, external: boolean, status: StepStatus, attempts: number, maxAttempts: number, results: unknown, startedAt: string | null, completedAt: string | null, error: { message: string, retryable: boolean } | null }> } };

export type RegisterTaskTemplateMutationVariables = Exact<{
  yaml: string;
  replace?: boolean;
}>;


export type RegisterTaskTemplateMutation = { registerTaskTemplate: { namespace: string, name: string, version: string, fullName: string, available: boolean, stepTemplates: Array<{ name: string, handler: string, external: boolean, dependsOn: Array<string> }> } };

export type WorkAvailableSubscriptionVariables = Exact<{
  handlers: Array<string> | string;
}>;


export type WorkAvailableSubscription = { workAvailable: Array<string> };

export type ClaimStepsMutationVariables = Exact<{
  input: ClaimStepsInput;
}>;


export type ClaimStepsMutation = { claimSteps: Array<{ leaseToken: string, leaseExpiresAt: string, attempt: number, idempotencyKey: string, context: unknown, parentResults: unknown, config: unknown, traceparent: string | null, step: { id: string, name: string, handler: string, task: { id: string, namespace: string, name: string } } }> };

export type HeartbeatStepMutationVariables = Exact<{
  stepId: string;
  leaseToken: string;
  extendSeconds?: number | null | undefined;
}>;


export type HeartbeatStepMutation = { heartbeatStep: string };

export type CompleteStepMutationVariables = Exact<{
  stepId: string;
  leaseToken: string;
  results?: unknown;
}>;


export type CompleteStepMutation = { completeStep: { id: string, status: StepStatus } };

export type FailStepMutationVariables = Exact<{
  stepId: string;
  leaseToken: string;
  error: string;
  retryable?: boolean;
  retryAfterSeconds?: number | null | undefined;
}>;


export type FailStepMutation = { failStep: { id: string, status: StepStatus, attempts: number } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const TaskSummaryFragmentDoc = new TypedDocumentString(`
    fragment TaskSummary on Task {
  id
  namespace
  name
  version
  status
  executionStatus
  createdAt
  updatedAt
  completedAt
}
    `, {"fragmentName":"TaskSummary"}) as unknown as TypedDocumentString<TaskSummaryFragment, unknown>;
export const StepSummaryFragmentDoc = new TypedDocumentString(`
    fragment StepSummary on Step {
  id
  name
  handler
  external
  status
  attempts
  maxAttempts
  results
  error {
    message
    retryable
  }
  startedAt
  completedAt
}
    `, {"fragmentName":"StepSummary"}) as unknown as TypedDocumentString<StepSummaryFragment, unknown>;
export const DoctorCreateTaskDocument = new TypedDocumentString(`
    mutation DoctorCreateTask($input: CreateTaskInput!) {
  createTask(input: $input) {
    task {
      id
      namespace
      name
      status
      traceId
    }
  }
}
    `) as unknown as TypedDocumentString<DoctorCreateTaskMutation, DoctorCreateTaskMutationVariables>;
export const DoctorTaskDocument = new TypedDocumentString(`
    query DoctorTask($id: ID!) {
  task(id: $id) {
    id
    status
    traceId
    steps {
      name
      handler
      external
      status
      attempts
    }
  }
}
    `) as unknown as TypedDocumentString<DoctorTaskQuery, DoctorTaskQueryVariables>;
export const ExportMetricsDocument = new TypedDocumentString(`
    query ExportMetrics($scope: MetricsScope!, $exporter: String) {
  metrics(scope: $scope, exporter: $exporter) {
    body
  }
}
    `) as unknown as TypedDocumentString<ExportMetricsQuery, ExportMetricsQueryVariables>;
export const CreateTaskDocument = new TypedDocumentString(`
    mutation CreateTask($input: CreateTaskInput!) {
  createTask(input: $input) {
    created
    task {
      ...TaskSummary
    }
  }
}
    fragment TaskSummary on Task {
  id
  namespace
  name
  version
  status
  executionStatus
  createdAt
  updatedAt
  completedAt
}`) as unknown as TypedDocumentString<CreateTaskMutation, CreateTaskMutationVariables>;
export const GetTaskDocument = new TypedDocumentString(`
    query GetTask($id: ID!) {
  task(id: $id) {
    ...TaskSummary
    context
    tags
    correlationId
    steps {
      ...StepSummary
    }
  }
}
    fragment TaskSummary on Task {
  id
  namespace
  name
  version
  status
  executionStatus
  createdAt
  updatedAt
  completedAt
}
fragment StepSummary on Step {
  id
  name
  handler
  external
  status
  attempts
  maxAttempts
  results
  error {
    message
    retryable
  }
  startedAt
  completedAt
}`) as unknown as TypedDocumentString<GetTaskQuery, GetTaskQueryVariables>;
export const CancelTaskDocument = new TypedDocumentString(`
    mutation CancelTask($id: ID!, $reason: String) {
  cancelTask(id: $id, reason: $reason) {
    ...TaskSummary
  }
}
    fragment TaskSummary on Task {
  id
  namespace
  name
  version
  status
  executionStatus
  createdAt
  updatedAt
  completedAt
}`) as unknown as TypedDocumentString<CancelTaskMutation, CancelTaskMutationVariables>;
export const RetryTaskDocument = new TypedDocumentString(`
    mutation RetryTask($id: ID!) {
  retryTask(id: $id) {
    ...TaskSummary
  }
}
    fragment TaskSummary on Task {
  id
  namespace
  name
  version
  status
  executionStatus
  createdAt
  updatedAt
  completedAt
}`) as unknown as TypedDocumentString<RetryTaskMutation, RetryTaskMutationVariables>;
export const TaskUpdatedDocument = new TypedDocumentString(`
    subscription TaskUpdated($id: ID!) {
  taskUpdated(id: $id) {
    ...TaskSummary
    steps {
      ...StepSummary
    }
  }
}
    fragment TaskSummary on Task {
  id
  namespace
  name
  version
  status
  executionStatus
  createdAt
  updatedAt
  completedAt
}
fragment StepSummary on Step {
  id
  name
  handler
  external
  status
  attempts
  maxAttempts
  results
  error {
    message
    retryable
  }
  startedAt
  completedAt
}`) as unknown as TypedDocumentString<TaskUpdatedSubscription, TaskUpdatedSubscriptionVariables>;
export const RegisterTaskTemplateDocument = new TypedDocumentString(`
    mutation RegisterTaskTemplate($yaml: String!, $replace: Boolean! = false) {
  registerTaskTemplate(yaml: $yaml, replace: $replace) {
    namespace
    name
    version
    fullName
    available
    stepTemplates {
      name
      handler
      external
      dependsOn
    }
  }
}
    `) as unknown as TypedDocumentString<RegisterTaskTemplateMutation, RegisterTaskTemplateMutationVariables>;
export const WorkAvailableDocument = new TypedDocumentString(`
    subscription WorkAvailable($handlers: [String!]!) {
  workAvailable(handlers: $handlers)
}
    `) as unknown as TypedDocumentString<WorkAvailableSubscription, WorkAvailableSubscriptionVariables>;
export const ClaimStepsDocument = new TypedDocumentString(`
    mutation ClaimSteps($input: ClaimStepsInput!) {
  claimSteps(input: $input) {
    leaseToken
    leaseExpiresAt
    attempt
    idempotencyKey
    context
    parentResults
    config
    traceparent
    step {
      id
      name
      handler
      task {
        id
        namespace
        name
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ClaimStepsMutation, ClaimStepsMutationVariables>;
export const HeartbeatStepDocument = new TypedDocumentString(`
    mutation HeartbeatStep($stepId: ID!, $leaseToken: String!, $extendSeconds: Int) {
  heartbeatStep(
    stepId: $stepId
    leaseToken: $leaseToken
    extendSeconds: $extendSeconds
  )
}
    `) as unknown as TypedDocumentString<HeartbeatStepMutation, HeartbeatStepMutationVariables>;
export const CompleteStepDocument = new TypedDocumentString(`
    mutation CompleteStep($stepId: ID!, $leaseToken: String!, $results: JSON) {
  completeStep(stepId: $stepId, leaseToken: $leaseToken, results: $results) {
    id
    status
  }
}
    `) as unknown as TypedDocumentString<CompleteStepMutation, CompleteStepMutationVariables>;
export const FailStepDocument = new TypedDocumentString(`
    mutation FailStep($stepId: ID!, $leaseToken: String!, $error: String!, $retryable: Boolean! = true, $retryAfterSeconds: Int) {
  failStep(
    stepId: $stepId
    leaseToken: $leaseToken
    error: $error
    retryable: $retryable
    retryAfterSeconds: $retryAfterSeconds
  ) {
    id
    status
    attempts
  }
}
    `) as unknown as TypedDocumentString<FailStepMutation, FailStepMutationVariables>;