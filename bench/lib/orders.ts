/**
 * The benchmarks' shoppers: one customer's order through checkout (a cart line, then POST /api/checkout with an
 * Idempotency-Key, retried with the same key as a client should), and an open loop that starts orders on schedule
 * whatever the answers take.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
/** The card always approves; the postal code chooses what the simulated carrier does (docs/simulated-providers.md). */
const checkoutBody = (postalCode = ADDRESS.postalCode) =>
  JSON.stringify({ shippingAddress: { ...ADDRESS, postalCode }, paymentToken: 'tok_approve', contact: { email: 'ada@example.com' } });

export interface Placed {
  orderId: string;
  /** when the first POST /api/checkout started (ms since the epoch) */
  startedAt: number;
  /** when the 202 arrived */
  acceptedAt: number;
  retries: number;
}

/** What a shopper sees while checkout is away, for a benchmark that makes it go away. */
export interface CheckoutObserver {
  /** a POST /api/checkout was sent */
  sent(): void;
  /** its answer, or its failure, arrived */
  settled(): void;
  /** a request is retried, because of `cause`: a status (503, 429) or a connection error's code */
  retried(cause: string): void;
}

export interface OrderOptions {
  /** also retry while checkout cannot be reached (refused, reset: down or restarting), and a cart PUT answering
   * 503 or 429; without it the PUT must answer 200 and a connection error fails the order */
  outages?: boolean;
  /** retries of the checkout before the order fails (20) */
  maxRetries?: number;
  /** the shipping address's postal code: `00000` is one the carrier refuses for good */
  postalCode?: string;
  observer?: CheckoutObserver;
}

/** An answer the shopper does not retry: the order failed. */
export class CheckoutRefused extends Error {
  readonly status: number;

  constructor(what: string, status: number, retries: number, body: string) {
    super(`${what} answered ${status} after ${retries} retries: ${body}`);
    this.name = 'CheckoutRefused';
    this.status = status;
  }
}

const retryable = (status: number) => status === 503 || status === 429;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long a shopper waits before trying again a checkout it could not reach for the n-th time in a row:
 * exponential from 250 ms up to 4 s, half of it jittered, so that shoppers do not come back all at once. */
const reconnectDelay = (n: number) => {
  const cap = Math.min(4_000, 250 * 2 ** n);
  return cap / 2 + (Math.random() * cap) / 2;
};

interface Answer {
  status: number;
  text: string;
  /** Retry-After (1 s when absent) */
  retryAfterMs: number;
}

/** The answer; or, with `outages`, the code of the connection error instead (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET …). */
async function send(url: string, init: RequestInit, outages: boolean): Promise<Answer | string> {
  try {
    const res = await fetch(url, init);
    return { status: res.status, text: await res.text(), retryAfterMs: Number(res.headers.get('retry-after') ?? 1) * 1000 };
  } catch (error) {
    if (!outages) throw error;
    return (error as { cause?: { code?: string } }).cause?.code ?? 'network';
  }
}

/** PUT one unit of the product in the customer's cart; with `outages`, retried while checkout is away. */
async function putCartLine(checkoutUrl: string, auth: string, productId: string, options: OrderOptions): Promise<void> {
  const { outages = false, maxRetries = 20, observer } = options;
  for (let retries = 0, unreachable = 0; ; retries++) {
    const put = await send(`${checkoutUrl}/api/cart/items/${productId}`, {
      method: 'PUT', headers: { authorization: auth, 'content-type': 'application/json' }, body: '{"quantity":1}',
    }, outages);
    if (typeof put !== 'string' && put.status === 200) return;
    const again = outages && retries < maxRetries && (typeof put === 'string' || retryable(put.status));
    if (!again) throw refusal('PUT /api/cart/items', put, retries);
    observer?.retried(typeof put === 'string' ? put : String(put.status));
    await sleep(typeof put === 'string' ? reconnectDelay(unreachable++) : put.retryAfterMs);
  }
}

const refusal = (what: string, answer: Answer | string, retries: number) =>
  typeof answer === 'string' ? new CheckoutRefused(what, 0, retries, answer) : new CheckoutRefused(what, answer.status, retries, answer.text);

/** One customer's order: a cart line, then checkout, retried with the same key while the answer is 503 or 429. */
export async function placeOrder(checkoutUrl: string, token: string, productId: string, options: OrderOptions = {}): Promise<Placed> {
  const { outages = false, maxRetries = 20, observer } = options;
  const auth = `Bearer ${token}`;
  await putCartLine(checkoutUrl, auth, productId, options);
  const body = checkoutBody(options.postalCode);
  const key = randomUUID();
  const startedAt = Date.now();
  for (let retries = 0, unreachable = 0; ; retries++) {
    observer?.sent();
    const res = await send(`${checkoutUrl}/api/checkout`, {
      method: 'POST', headers: { authorization: auth, 'content-type': 'application/json', 'idempotency-key': key }, body,
    }, outages).finally(() => observer?.settled());
    if (typeof res !== 'string' && res.status === 202) return { orderId: (JSON.parse(res.text) as { orderId: string }).orderId, startedAt, acceptedAt: Date.now(), retries };
    const again = retries < maxRetries && (typeof res === 'string' || retryable(res.status));
    if (!again) throw refusal('POST /api/checkout', res, retries);
    observer?.retried(typeof res === 'string' ? res : String(res.status));
    await sleep(typeof res === 'string' ? reconnectDelay(unreachable++) : res.retryAfterMs);
  }
}

/** Starts `rate` orders per second for `seconds`, on schedule whatever the answers take (an open loop). */
export async function openLoop<T>(rate: number, seconds: number, order: (i: number) => Promise<T>) {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const started: Promise<T>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    started.push(order(i));
  }
  const offeredSeconds = (performance.now() - start) / 1000;
  const placed = await Promise.all(started);
  return { placed, offeredPerSecond: total / offeredSeconds, acceptedPerSecond: total / ((performance.now() - start) / 1000) };
}
