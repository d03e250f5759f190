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
  /** per-request timeout; a publisher that cannot reach SNS must fail fast (checkout answers 503) */
  requestTimeoutMs?: number;
}

export function createAwsClients(options: AwsClientOptions): AwsClients {
  const common = {
    region: options.region,
    maxAttempts: 2,
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 3_000, connectionTimeout: 1_000 },
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
