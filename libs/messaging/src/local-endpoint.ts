/**
 * fauxqs (the SQS/SNS wire protocol, in this process, or one already running elsewhere: `endpoint`) with
 * SecureCart's topology bootstrapped under a prefix of its own: what tests and local tools use where AWS would be. A subpath of its own (`@securecart/messaging/local`),
 * so that a deployed service never loads fauxqs, and its image need not carry it (fauxqs is a devDependency here).
 */
import { randomUUID } from 'node:crypto';
import { startFauxqs } from 'fauxqs';
import { bootstrapTopology, type MessagingAddresses } from './bootstrap.ts';
import { createAwsClients, destroyAwsClients, type AwsClients } from './clients.ts';
import { SnsPublisher } from './publisher.ts';

export interface LocalMessaging {
  clients: AwsClients;
  addresses: MessagingAddresses;
  publisher: SnsPublisher;
  /** the endpoint URL, for AWS_ENDPOINT_URL of a child process */
  endpoint: string;
  /** the resource name prefix, for MESSAGING_PREFIX of a child process */
  prefix: string;
  close(): Promise<void>;
}

export async function startLocalMessaging(options: { port?: number; prefix?: string; endpoint?: string } = {}): Promise<LocalMessaging> {
  const fauxqs = options.endpoint ? undefined : await startFauxqs({ port: options.port ?? 0, logger: false });
  const endpoint = options.endpoint ?? fauxqs!.address;
  const clients = createAwsClients({ region: 'us-east-1', endpoint });
  const prefix = options.prefix ?? `t${randomUUID().slice(0, 8)}-`;
  const addresses = await bootstrapTopology(clients, { prefix });
  return {
    clients,
    addresses,
    publisher: new SnsPublisher(clients),
    endpoint,
    prefix,
    close: async () => {
      destroyAwsClients(clients);
      await fauxqs?.stop();
    },
  };
}
