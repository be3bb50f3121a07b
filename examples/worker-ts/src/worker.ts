// A Tasker external worker: it waits for work on the `workAvailable`
// subscription (no polling while the socket is up), claims ready steps for its
// handlers under a lease, heartbeats while a handler runs, and reports the
// outcome. A crash costs nothing but time: the lease expires and another
// worker gets the step as a new attempt.
import {
  ClaimStepsDocument,
  type ClaimStepsMutation,
  CompleteStepDocument,
  FailStepDocument,
  HeartbeatStepDocument,
  type TaskerClient,
  TaskerError,
  WorkAvailableDocument,
} from '@tasker/client';

export type Claim = ClaimStepsMutation['claimSteps'][number];

/** What a handler is given: the claim plus a signal that fires when the lease is lost. */
export interface Job extends Claim {
  signal: AbortSignal;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** A handler returns the step's results (any JSON), or throws. */
export type Handler = (job: Job) => Promise<unknown>;

/** Throw to fail the attempt and ask for the next one no sooner than `retryAfterSeconds`. */
export class RetryLater extends Error {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(message);
    this.name = 'RetryLater';
  }
}

/** Throw to fail the step for good (no further attempt, whatever its retry policy). */
export class PermanentFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentFailure';
  }
}

export interface WorkerOptions {
  client: TaskerClient;
  workerId: string;
  handlers: Record<string, Handler>;
  /** Lease asked for on each claim, renewed every third of it. */
  leaseSeconds?: number;
  /** Steps worked on at once. */
  concurrency?: number;
  /** Claim attempts without a wake-up, in case the subscription is down. */
  pollSeconds?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export function jsonLog(message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), message, ...fields })}\n`);
}

export class Worker {
  private readonly client: TaskerClient;
  private readonly workerId: string;
  private readonly handlers: Record<string, Handler>;
  private readonly leaseSeconds: number;
  private readonly concurrency: number;
  private readonly pollSeconds: number;
  private readonly log: NonNullable<WorkerOptions['log']>;
  private readonly running = new Set<Promise<void>>();
  private wake: () => void = () => {};
  private stopping = false;

  constructor(options: WorkerOptions) {
    this.client = options.client;
    this.workerId = options.workerId;
    this.handlers = options.handlers;
    this.leaseSeconds = options.leaseSeconds ?? 30;
    this.concurrency = options.concurrency ?? 4;
    this.pollSeconds = options.pollSeconds ?? 30;
    this.log = options.log ?? jsonLog;
  }

  /** Work until `stop()`; then wait for the steps in hand to finish. */
  async run(): Promise<void> {
    const names = Object.keys(this.handlers);
    this.log('worker started', { workerId: this.workerId, handlers: names, leaseSeconds: this.leaseSeconds });
    void this.listen(names);
    while (!this.stopping) {
      const woken = new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.pollSeconds * 1000).unref();
      });
      await this.claimWhatFits(names);
      await woken;
    }
    await Promise.allSettled(this.running);
    await this.client.close();
    this.log('worker stopped', { workerId: this.workerId });
  }

  /** Stop claiming; `run()` returns once the steps in hand are reported. */
  stop(): void {
    this.stopping = true;
    this.wake();
  }

  private async listen(names: string[]): Promise<void> {
    while (!this.stopping) {
      try {
        for await (const ready of this.client.subscribe(WorkAvailableDocument, { handlers: names })) {
          if (ready.workAvailable.length > 0) this.wake();
          if (this.stopping) return;
        }
      } catch (error) {
        this.log('workAvailable subscription failed; polling until it is back', { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async claimWhatFits(names: string[]): Promise<void> {
    while (!this.stopping && this.running.size < this.concurrency) {
      let claims: Claim[];
      try {
        const claimed = await this.client.request(ClaimStepsDocument, {
          input: {
            workerId: this.workerId,
            handlers: names,
            limit: this.concurrency - this.running.size,
            leaseSeconds: this.leaseSeconds,
          },
        });
        claims = claimed.claimSteps;
      } catch (error) {
        this.log('claim failed', { error: String(error) });
        return;
      }
      if (claims.length === 0) return;
      for (const claim of claims) {
        const work = this.work(claim).finally(() => {
          this.running.delete(work);
          this.wake();
        });
        this.running.add(work);
      }
    }
  }

  private async work(claim: Claim): Promise<void> {
    const stepId = claim.step.id;
    const { leaseToken } = claim;
    const fields = { stepId, step: claim.step.name, handler: claim.step.handler, attempt: claim.attempt, taskId: claim.step.task.id };
    const log = (message: string, more: Record<string, unknown> = {}) => this.log(message, { ...fields, ...more });
    const lease = new AbortController();
    const heartbeat = setInterval(() => {
      this.client
        .request(HeartbeatStepDocument, { stepId, leaseToken, extendSeconds: this.leaseSeconds })
        .catch((error: unknown) => {
          if (error instanceof TaskerError && error.code === 'LEASE_LOST') {
            log('lease lost; abandoning the step');
            lease.abort(error);
          } else {
            log('heartbeat failed', { error: String(error) });
          }
        });
    }, (this.leaseSeconds * 1000) / 3);
    log('step claimed');
    try {
      const handler = this.handlers[claim.step.handler];
      if (!handler) throw new PermanentFailure(`no handler ${claim.step.handler} in this worker`);
      const results = await handler({ ...claim, signal: lease.signal, log });
      if (lease.signal.aborted) return;
      await this.client.request(CompleteStepDocument, { stepId, leaseToken, results: results ?? null });
      log('step completed');
    } catch (error) {
      if (lease.signal.aborted) return;
      await this.fail(stepId, leaseToken, error, log);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async fail(stepId: string, leaseToken: string, error: unknown, log: Job['log']): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const retryable = !(error instanceof PermanentFailure);
    const retryAfterSeconds = error instanceof RetryLater ? Math.max(0, Math.ceil(error.retryAfterSeconds)) : null;
    try {
      const failed = await this.client.request(FailStepDocument, { stepId, leaseToken, error: message, retryable, retryAfterSeconds });
      log('step failed', { error: message, retryable, retryAfterSeconds, status: failed.failStep.status });
    } catch (report) {
      // LEASE_LOST: the step moved on without us. Anything else: the lease
      // expires and the step runs again, which is what a crash would do.
      log('could not report the failure', { error: String(report) });
    }
  }
}
