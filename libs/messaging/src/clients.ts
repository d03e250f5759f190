/**
 * SNS and SQS clients. In AWS they use the task role; with AWS_ENDPOINT_URL (an emulator such as fauxqs) they
 * use static test credentials, since the emulator checks none and the SDK insists on some.
 */
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';

export interface AwsClients {
  sns: SNSClient;
  sqs: SQSClient;
}

export interface AwsClientOptions {
  region: string;
  /** an emulator's URL; unset in AWS */
  endpoint?: string | undefined;
  /** each attempt's deadline, connecting included (default 5 s): a hung SNS fails (checkout answers 503) rather
   * than holding requests until the edge gives up */
  requestTimeoutMs?: number;
}

export function createAwsClients(options: AwsClientOptions): AwsClients {
  const common = {
    region: options.region,
    // three attempts with the SDK's jittered backoff: 5 s each, about 15 s in all, well inside the edge's 30 s
    maxAttempts: 3,
    // Generous deadlines: a busy process (a burst of checkouts, a loaded host) runs its timers late, and a 1 s
    // connect timeout then expired falsely and refused orders SNS would have taken. Without throwOnRequestTimeout
    // the SDK only logs a request past its deadline and goes on waiting.
    requestHandler: {
      connectionTimeout: 3_000,
      requestTimeout: options.requestTimeoutMs ?? 5_000,
      throwOnRequestTimeout: true,
    },
    ...(options.endpoint
      ? { endpoint: options.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
  };
  return { sns: new SNSClient(common), sqs: new SQSClient(common) };
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.sns.destroy();
  clients.sqs.destroy();
}
