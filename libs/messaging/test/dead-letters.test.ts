/**
 * The redrive's use of SQS's message move task, which only AWS has (fauxqs answers InvalidAction, covered by
 * dead-letters.int.test.ts): against a stand-in client that answers as SQS documents it.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { redriveDeadLetters, type DeadLetterQueuePair } from '../src/dead-letters.ts';

const pair: DeadLetterQueuePair = {
  queue: 'fulfillment',
  queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/app-prod-fulfillment',
  deadLetterQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/app-prod-fulfillment-dlq',
};
const arnOf = (url: string) => `arn:aws:sqs:eu-west-1:123456789012:${url.split('/').pop()}`;

/** Answers each command by its name; records what was sent. */
function fakeSqs(answers: Record<string, (input: Record<string, unknown>) => unknown>) {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name.replace(/Command$/, '');
      sent.push({ command: name, input: command.input });
      const answer = answers[name];
      if (!answer) throw Object.assign(new Error(`unexpected ${name}`), { name: 'Unexpected' });
      return answer(command.input);
    },
  };
  return { sqs: client as unknown as SQSClient, sent };
}

const queueArns = { GetQueueAttributes: (input: Record<string, unknown>) => ({ Attributes: { QueueArn: arnOf(input.QueueUrl as string) } }) };

describe('redrive with a message move task', () => {
  it('starts a move task from the dead-letter queue to its queue and follows it until it completes', async () => {
    const statuses = ['RUNNING', 'COMPLETED'];
    const { sqs, sent } = fakeSqs({
      ...queueArns,
      StartMessageMoveTask: () => ({ TaskHandle: 'task-1' }),
      ListMessageMoveTasks: () => {
        const status = statuses.shift() ?? 'COMPLETED';
        return { Results: [{ TaskHandle: 'task-1', Status: status, ApproximateNumberOfMessagesMoved: status === 'COMPLETED' ? 3 : 1 }] };
      },
    });
    const result = await redriveDeadLetters(sqs, pair);
    expect(result).toEqual({ queue: 'fulfillment', dryRun: false, strategy: 'move-task', moved: 3, moveTask: { handle: 'task-1', status: 'COMPLETED' }, errors: [] });
    expect(sent.find((s) => s.command === 'StartMessageMoveTask')!.input).toEqual({
      SourceArn: arnOf(pair.deadLetterQueueUrl), DestinationArn: arnOf(pair.queueUrl),
    });
  });

  it('reports a move task that failed as an error', async () => {
    const { sqs } = fakeSqs({
      ...queueArns,
      StartMessageMoveTask: () => ({ TaskHandle: 'task-2' }),
      ListMessageMoveTasks: () => ({ Results: [{ TaskHandle: 'task-2', Status: 'FAILED', FailureReason: 'AWS.SimpleQueueService.NonExistentQueue', ApproximateNumberOfMessagesMoved: 0 }] }),
    });
    const result = await redriveDeadLetters(sqs, pair);
    expect(result).toMatchObject({ strategy: 'move-task', moved: 0, errors: ['message move task FAILED: AWS.SimpleQueueService.NonExistentQueue'] });
  });

  it('does not start a move task for a limited, manual or dry-run redrive (a move task always moves everything)', async () => {
    for (const options of [{ limit: 5 }, { strategy: 'manual' as const }, { dryRun: true }]) {
      const { sqs, sent } = fakeSqs({ ...queueArns, ReceiveMessage: () => ({ Messages: [] }), ChangeMessageVisibilityBatch: () => ({}) });
      expect(await redriveDeadLetters(sqs, pair, options)).toMatchObject({ strategy: 'manual', moved: 0, errors: [] });
      expect(sent.map((s) => s.command)).not.toContain('StartMessageMoveTask');
    }
  });

  it('does not fall back to the manual move when the move task fails for another reason than being unavailable', async () => {
    const { sqs } = fakeSqs({
      ...queueArns,
      StartMessageMoveTask: () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'RequestThrottled' });
      },
    });
    await expect(redriveDeadLetters(sqs, pair)).rejects.toThrow(/Rate exceeded/);
  });
});
