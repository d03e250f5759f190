/**
 * The hostile requests of hostile-input.int.test.ts, generated from a seed. Every public route of the API gets
 * requests of each input class that applies to it (wrong JSON types, bad numbers and strings, huge and deeply nested
 * values, missing and unknown fields, malformed JSON, wrong content types, empty and oversize bodies, bad path
 * parameters and query strings, bad Idempotency-Keys and Authorization headers, a customer on admin routes, ...).
 *
 * A request is built to be invalid, and `mustReject` says when that is certain: the answer must then be a 4xx. The
 * bodies of the API are restated below as small specs, so that a mutation of a valid body is checked to really be
 * invalid before it is sent. A request that cannot be proven invalid (a forged but well-formed cursor, a body on a
 * GET) only goes where accepting it changes nothing. Strings with U+0000 or an unpaired surrogate count as invalid in
 * bodies that are stored: Postgres cannot keep them.
 */
import { createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { DevIdentityProvider } from '@securecart/dev-idp';

// ---------------------------------------------------------------------------------------------------------------
// A seeded PRNG (mulberry32): the same seed, the same sweep.

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  hex(length: number): string {
    return Array.from({ length }, () => this.int(16).toString(16)).join('');
  }

  /** a random v4 UUID, drawn from this generator */
  uuid(): string {
    return `${this.hex(8)}-${this.hex(4)}-4${this.hex(3)}-${this.pick(['8', '9', 'a', 'b'])}${this.hex(3)}-${this.hex(12)}`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// An identity provider whose key the test holds: it serves the JWKS and mints tokens like the development one, and
// signs whatever else a sweep needs (expired, for another audience, ...) with the key the services trust.

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export interface SigningIdentityProvider extends DevIdentityProvider {
  /** a JWT with these claims (iss, aud, iat and exp added unless given), RS256 with the trusted key */
  sign(claims: Record<string, unknown>, options?: { header?: Record<string, unknown>; key?: 'trusted' | 'foreign' }): string;
  /** the trusted public key as PEM: an attacker knows it (for the HS256 confusion) */
  publicPem: string;
  kid: string;
}

export function signingIdentityProvider(issuer: string, audience: string): SigningIdentityProvider {
  const trusted = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const signWith = (key: KeyObject, header: Record<string, unknown>, claims: Record<string, unknown>) => {
    const data = `${b64(header)}.${b64(claims)}`;
    return `${data}.${sign('sha256', Buffer.from(data), key).toString('base64url')}`;
  };
  const provider: SigningIdentityProvider = {
    issuer,
    audience,
    kid,
    publicPem: trusted.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    jwks: () => ({ keys: [{ ...trusted.publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] }),
    sign(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const full = { iss: issuer, aud: audience, iat: now, exp: now + 3600, ...claims };
      const header = { alg: 'RS256', typ: 'JWT', kid, ...options.header };
      return signWith(options.key === 'foreign' ? foreign.privateKey : trusted.privateKey, header, full);
    },
    async mint({ sub, groups = [], email }) {
      const accessToken = provider.sign({ sub, 'cognito:groups': groups, ...(email ? { email } : {}), token_use: 'access', jti: randomUUID() });
      return { accessToken, expiresIn: 3600 };
    },
  };
  return provider;
}

/** Authorization header values that must get 401 on every route that reads tokens: the label says why. */
export function hostileAuthorizations(idp: SigningIdentityProvider, valid: string): { label: string; value: string }[] {
  const now = Math.floor(Date.now() / 1000);
  const customer = { sub: 'hostile-intruder', 'cognito:groups': ['admin'] };
  const [header, payload] = valid.split('.');
  const tampered = `${header}.${b64({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'someone-else' })}.${valid.split('.')[2]}`;
  const hs256 = (() => {
    const data = `${b64({ alg: 'HS256', typ: 'JWT', kid: idp.kid })}.${b64({ iss: idp.issuer, aud: idp.audience, exp: now + 600, ...customer })}`;
    return `${data}.${createHmac('sha256', idp.publicPem).update(data).digest('base64url')}`;
  })();
  return [
    { label: 'scheme without a token', value: 'Bearer' },
    { label: 'Basic credentials', value: 'Basic aGFja2VyOmh1bnRlcjI=' },
    { label: 'garbage token', value: `Bearer ${'x'.repeat(40)}` },
    { label: 'three dots', value: 'Bearer a.b.c' },
    { label: 'two tokens', value: `Bearer ${valid} ${valid}` },
    { label: 'extra segment', value: `Bearer ${valid}.eyJ9` },
    { label: '10 KB token', value: `Bearer ${'A'.repeat(10_000)}` },
    { label: 'non-ASCII token', value: `Bearer ${Buffer.from('жетон', 'utf8').toString('latin1')}` },
    { label: 'signed by another key, trusted kid', value: `Bearer ${idp.sign(customer, { key: 'foreign' })}` },
    { label: 'signed by another key, unknown kid', value: `Bearer ${idp.sign(customer, { key: 'foreign', header: { kid: 'not-a-known-key' } })}` },
    { label: 'expired', value: `Bearer ${idp.sign({ ...customer, iat: now - 7200, exp: now - 3600 })}` },
    { label: 'not valid yet', value: `Bearer ${idp.sign({ ...customer, nbf: now + 3600 })}` },
    { label: 'wrong audience', value: `Bearer ${idp.sign({ ...customer, aud: 'another-app' })}` },
    { label: 'wrong issuer', value: `Bearer ${idp.sign({ ...customer, iss: 'https://evil.example' })}` },
    { label: 'alg none', value: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, aud: idp.audience, exp: now + 600, ...customer })}.` },
    { label: 'HS256 keyed with the public key', value: `Bearer ${hs256}` },
    { label: 'no subject', value: `Bearer ${idp.sign({ 'cognito:groups': ['admin'] })}` },
    { label: 'subject of 200 characters', value: `Bearer ${idp.sign({ ...customer, sub: 's'.repeat(200) })}` },
    { label: 'tampered payload', value: `Bearer ${tampered}` },
    { label: 'empty signature', value: `Bearer ${valid.split('.').slice(0, 2).join('.')}.` },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// The request bodies of the API, restated: enough to tell a certainly invalid value from a possibly valid one.

type Spec =
  | { type: 'string'; min?: number; max?: number; pattern?: RegExp; email?: true; nullable?: true; ok: string }
  | { type: 'integer'; min: number; max: number; ok: number }
  | { type: 'enum'; values: string[]; ok: string }
  | { type: 'array'; items: Spec; maxItems: number; ok: unknown[] }
  | ObjectSpec;

interface ObjectSpec {
  type: 'object';
  props: Record<string, Spec>;
  required: string[];
  minProperties?: number;
}

const str = (ok: string, rest: Omit<Extract<Spec, { type: 'string' }>, 'type' | 'ok'> = {}): Spec => ({ type: 'string', ok, ...rest });
const int = (min: number, max: number, ok: number): Spec => ({ type: 'integer', min, max, ok });
const obj = (props: Record<string, Spec>, required: string[], minProperties?: number): ObjectSpec => ({
  type: 'object', props, required, ...(minProperties ? { minProperties } : {}),
});

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CURRENCY = /^[A-Z]{3}$/;
const IMAGE_URL = /^https?:\/\/\S+$/;

const productFields = {
  sku: str('HOSTILE-SKU', { min: 1, max: 64, pattern: SKU }),
  slug: str('hostile-slug', { min: 1, max: 120, pattern: SLUG }),
  name: str('Hostile product', { min: 1, max: 200 }),
  description: str('Made to be refused', { max: 5000 }),
  priceCents: int(0, 100_000_000, 1234),
  currency: str('USD', { pattern: CURRENCY }),
  category: str('misc', { min: 1, max: 120, pattern: SLUG }),
  imageUrl: str('https://img.example/p.png', { max: 2048, pattern: IMAGE_URL, nullable: true }),
};

export const BODIES = {
  createProduct: obj({ ...productFields, stock: int(0, 10_000_000, 5) }, ['sku', 'slug', 'name', 'priceCents', 'category']),
  updateProduct: obj({ ...productFields, status: { type: 'enum', values: ['active', 'archived'], ok: 'active' } }, [], 1),
  setStock: obj({ stock: int(0, 10_000_000, 7) }, ['stock']),
  setQuantity: obj({ quantity: int(0, 99, 3) }, ['quantity']),
  checkout: obj(
    {
      shippingAddress: obj(
        {
          name: str('Eve', { min: 1, max: 200 }),
          line1: str('1 Hostile Road', { min: 1, max: 200 }),
          line2: str('Flat 2', { max: 200 }),
          city: str('Springfield', { min: 1, max: 100 }),
          region: str('Nowhere', { max: 100 }),
          postalCode: str('12345', { min: 1, max: 20 }),
          country: str('US', { pattern: /^[A-Z]{2}$/ }),
        },
        ['name', 'line1', 'city', 'postalCode', 'country'],
      ),
      paymentToken: str('tok_approve', { min: 1, max: 64, pattern: /^tok_[A-Za-z0-9_]+$/ }),
      contact: obj({ email: str('eve@example.com', { max: 254, email: true }), phone: str('+14155550100', { pattern: /^\+[1-9][0-9]{6,14}$/ }) }, []),
    },
    ['shippingAddress', 'paymentToken', 'contact'],
  ),
  reason: obj({ reason: str('changed my mind', { min: 1, max: 500 }) }, []),
  devToken: obj(
    {
      sub: str('hostile-dev', { min: 1, max: 128, pattern: /^[A-Za-z0-9@._:-]+$/ }),
      groups: { type: 'array', items: str('admin', { min: 1, max: 64 }), maxItems: 10, ok: ['admin'] },
      email: str('dev@example.com', { max: 254, email: true }),
    },
    ['sub'],
  ),
} satisfies Record<string, ObjectSpec>;

/** A JSON literal sent as written (1e400, 9007199254740993, a 20 000-deep array): JSON.stringify cannot. */
export class Raw {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export function toJsonText(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof Raw ? `\u0000raw${raws.push(v.text) - 1}\u0000` : v));
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const codePoints = (s: string) => [...s].length;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Raw);

/**
 * True when `value` certainly breaks `spec` (or, where `stored`, holds a string Postgres cannot keep). False means
 * "maybe valid": never sent where accepting it would change something.
 */
export function isInvalid(spec: Spec, value: unknown, stored: boolean): boolean {
  if (value instanceof Raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.text);
    } catch {
      return true;
    }
    return isInvalid(spec, parsed, stored);
  }
  switch (spec.type) {
    case 'string': {
      if (value === null) return !spec.nullable;
      if (typeof value !== 'string') return true;
      if (spec.min !== undefined && codePoints(value) < spec.min) return true;
      if (spec.max !== undefined && codePoints(value) > spec.max) return true;
      if (spec.pattern && !spec.pattern.test(value)) return true;
      // sound, not complete: whatever fails this also fails the email format
      if (spec.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return true;
      return stored && (value.includes('\u0000') || UNPAIRED_SURROGATE.test(value));
    }
    case 'integer':
      return typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max;
    case 'enum':
      return typeof value !== 'string' || !spec.values.includes(value);
    case 'array':
      return !Array.isArray(value) || value.length > spec.maxItems || value.some((item) => isInvalid(spec.items, item, stored));
    case 'object': {
      if (!isPlainObject(value)) return true;
      const keys = Object.keys(value);
      if (spec.required.some((k) => !(k in value))) return true;
      if (keys.some((k) => !Object.hasOwn(spec.props, k))) return true;
      if (spec.minProperties && keys.length < spec.minProperties) return true;
      return keys.some((k) => isInvalid(spec.props[k]!, value[k], stored));
    }
  }
}

/** The valid body a mutation starts from: required fields, and every optional one half of the time. */
export function validBody(spec: ObjectSpec, rng: Rng): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec.props)) {
    const needed = spec.required.includes(key) || (spec.minProperties !== undefined && Object.keys(body).length === 0);
    if (!needed && !rng.chance(0.5)) continue;
    body[key] = field.type === 'object' ? validBody(field, rng) : structuredClone(field.ok);
  }
  return body;
}

function fieldPaths(spec: ObjectSpec, prefix: string[] = []): { path: string[]; spec: Spec; required: boolean }[] {
  return Object.entries(spec.props).flatMap(([key, field]) => [
    { path: [...prefix, key], spec: field, required: spec.required.includes(key) },
    ...(field.type === 'object' ? fieldPaths(field, [...prefix, key]) : []),
  ]);
}

function setAt(body: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  let at: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(at[key])) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  Object.defineProperty(at, path.at(-1)!, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function deleteAt(body: Record<string, unknown>, path: string[]): Record<string, unknown> {
  const copy = structuredClone(body);
  let at: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) at = (at[key] ?? {}) as Record<string, unknown>;
  delete at[path.at(-1)!];
  return copy;
}

// ---------------------------------------------------------------------------------------------------------------
// Hostile values.

const WRONG_TYPES: unknown[] = [null, true, false, 0, -1, 1.5, '', 'x', '5', 'true', [], [1], ['x'], {}, { a: 1 }, { $gt: '' }];

const BAD_NUMBER_LITERALS = [
  '-1', '-0.5', '0.5', '1.5', '99.99', '1e308', '-1e308', '1e400', '-1e400', '9007199254740993', '-9007199254740993',
  '123456789012345678901234567890', '1e9', '100000001', '10000001', '100', '0', '-0', '1.0000000000000002', '2.5e-8',
];
const NAN_LIKE = ['NaN', 'Infinity', '-Infinity', '1e308', '0x10', '1_000', '١٢٣', ' 5 ', '5abc', ''];

const HOSTILE_STRINGS = [
  '', ' ', '\t', 'A B', 'UPPER', '../../etc/passwd', '..%2f..%2finternal', '<script>alert(1)</script>', "'; drop table catalog.products; --",
  '\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\udfff\ud800', '\u202eevil\u202c', 'ünïcødé', '😀', '%00', '${jndi:ldap://x/a}', 'NaN', 'null',
  '\r\nX-Injected: yes', 'tok_', 'tok_ok-no', 'tok_\u0000', 'a@', '@b.c', 'a b@c.d', 'no-at-sign.example', '+1', '+0123456789', '12345',
  'us', 'USA', 'usd', 'U$D', 'javascript:alert(1)', 'ftp://x/y', 'http://', 'https://a b',
];

const EXTRA_KEYS = ['colour', 'isAdmin', 'id', 'priceCents ', 'PRICECENTS', '', ' ', '\u0000', 'a'.repeat(500), '$where', 'toString', 'valueOf', 'hasOwnProperty'];

/** JSON texts that are not JSON */
const MALFORMED = [
  '{', '}', '{"a":}', "{'a':1}", '{"a":1,}', '[1,2', 'nul', 'undefined', 'NaN', 'Infinity', '{"a":1}{"b":2}', '\u0000',
  '{"a":"\\x41"}', '{"a":"\u0001"}', '{"a": 01}', '{"a": .5}', '{"a": +1}', '{"a": 0x10}', '{"a":"\\ud800"', ' ', '\n\t',
  '{"a":NaN}', '{"a":Infinity}', '{a:1}', '"unterminated', '{"a":1]', '[}', '\uFEFF{', '<?xml version="1.0"?><a/>', 'a=1&b=2',
];

const WRONG_CONTENT_TYPES = [
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=hostile', 'application/xml', 'text/html',
  'application/octet-stream', 'application/jsonp', 'application/json-patch+json', 'image/png', 'text/json', 'application/javascript',
];

function deepNest(depth: number, kind: 'array' | 'object'): Raw {
  return kind === 'array' ? new Raw(`${'['.repeat(depth)}${']'.repeat(depth)}`) : new Raw(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
}

function hugeString(rng: Rng, length: number): string {
  return rng.pick(['x', 'é', '😀', '\u202e', 'A\u0301']).repeat(length).slice(0, length);
}

// ---------------------------------------------------------------------------------------------------------------
// Requests.

export interface HostileRequest {
  /** input class */
  kind: string;
  /** a readable note on what was sent (shown on failure) */
  label: string;
  method: string;
  /** path and query exactly as sent */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** certainly invalid: the answer must be a 4xx */
  mustReject: boolean;
}

export interface SweepWorld {
  /** an active product held in every customer's cart; only invalid requests may reach it */
  productId: string;
  productSlug: string;
  /** CONFIRMED orders, each with its owner's Authorization: they could be cancelled and refunded, so only invalid requests reach them */
  orders: { id: string; owner: string }[];
  /** Authorization header values; the customers (not the owners) hold the product in their carts */
  customers: string[];
  admins: string[];
  /** a customer whose token says it is in group "admin" as a string, not a list */
  notQuiteAdmins: string[];
  badAuthorizations: { label: string; value: string }[];
}

type Auth = 'public' | 'customer' | 'owner' | 'admin';

interface Route {
  name: string;
  method: string;
  /** the path for a target (a product or order id, or anything to put in the parameter) */
  path: (target: string) => string;
  auth: Auth;
  /** which real resource `:param` names, if any */
  target?: 'product' | 'order' | 'idOrSlug';
  body?: ObjectSpec;
  bodyRequired?: boolean;
  /** its body ends up in a database */
  stored?: boolean;
  /** accepting a request here changes something (so only certainly invalid requests are sent to real targets) */
  mutates: boolean;
  query?: 'products' | 'orders' | 'admin-orders';
}

export const ROUTES: Route[] = [
  { name: 'list products', method: 'GET', path: () => '/api/catalog/products', auth: 'public', mutates: false, query: 'products' },
  { name: 'one product', method: 'GET', path: (t) => `/api/catalog/products/${t}`, auth: 'public', target: 'idOrSlug', mutates: false },
  { name: 'categories', method: 'GET', path: () => '/api/catalog/categories', auth: 'public', mutates: false },
  { name: 'create product', method: 'POST', path: () => '/api/catalog/products', auth: 'admin', body: BODIES.createProduct, bodyRequired: true, stored: true, mutates: true },
  { name: 'change product', method: 'PATCH', path: (t) => `/api/catalog/products/${t}`, auth: 'admin', target: 'product', body: BODIES.updateProduct, bodyRequired: true, stored: true, mutates: true },
  { name: 'archive product', method: 'DELETE', path: (t) => `/api/catalog/products/${t}`, auth: 'admin', target: 'product', mutates: true },
  { name: 'set stock', method: 'PUT', path: (t) => `/api/catalog/products/${t}/stock`, auth: 'admin', target: 'product', body: BODIES.setStock, bodyRequired: true, stored: true, mutates: true },
  { name: 'cart', method: 'GET', path: () => '/api/cart', auth: 'customer', mutates: false },
  { name: 'set cart line', method: 'PUT', path: (t) => `/api/cart/items/${t}`, auth: 'customer', target: 'product', body: BODIES.setQuantity, bodyRequired: true, stored: true, mutates: true },
  { name: 'empty cart', method: 'DELETE', path: () => '/api/cart', auth: 'customer', mutates: true },
  { name: 'checkout', method: 'POST', path: () => '/api/checkout', auth: 'customer', body: BODIES.checkout, bodyRequired: true, stored: true, mutates: true },
  { name: 'my orders', method: 'GET', path: () => '/api/orders', auth: 'customer', mutates: false, query: 'orders' },
  { name: 'one order', method: 'GET', path: (t) => `/api/orders/${t}`, auth: 'owner', target: 'order', mutates: false },
  { name: 'order events', method: 'GET', path: (t) => `/api/orders/${t}/events`, auth: 'owner', target: 'order', mutates: false },
  { name: 'cancel order', method: 'POST', path: (t) => `/api/orders/${t}/cancel`, auth: 'owner', target: 'order', body: BODIES.reason, stored: true, mutates: true },
  { name: 'admin orders', method: 'GET', path: () => '/api/admin/orders', auth: 'admin', mutates: false, query: 'admin-orders' },
  { name: 'refund order', method: 'POST', path: (t) => `/api/admin/orders/${t}/refund`, auth: 'admin', target: 'order', body: BODIES.reason, stored: true, mutates: true },
  { name: 'dev token', method: 'POST', path: () => '/api/dev/token', auth: 'public', body: BODIES.devToken, bodyRequired: true, stored: false, mutates: false },
];

const JSON_TYPE = 'application/json';
/** stands for the owner of the order a request is about */
const OWNER = '\u0000owner';
const cursorOf = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const enc = encodeURIComponent;

/** Path parameters that name nothing: each must get a 4xx. `{id}` is replaced by a real id. */
const BAD_IDS = [
  'not-a-uuid', '00000000-0000-0000-0000-00000000000', '00000000-0000-0000-0000-0000000000000', 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
  'urn:uuid:{id}', 'urn:uuid:{random}', '{{random}}', '{random}x', '%20{random}', '{random}%00', '%00', 'a%00b', '..', '%2e%2e', '..%2f..%2finternal%2fproducts%2flookup',
  '%2e%2e%2f%2e%2e%2finternal%2fproducts%2flookup', '..%252f..%252finternal', '%2F', '%zz', '%E0%A4%A', '%ED%A0%80', '%F0%9F%98%80', '%E2%80%AEevil',
  'a'.repeat(201), 'a'.repeat(1000), 'UPPER-Case', '-1', '1e308', 'NaN', 'null', 'undefined', enc("' OR 1=1 --"), '%20', '%0d%0aX-Injected:%20yes',
  '{random-no-dashes}', ':id', '*', enc('<script>'), '%C0%AE%C0%AE',
];

function badId(template: string, rng: Rng, realId: string): string {
  const random = rng.uuid();
  return template
    .replace('{id}', realId)
    .replace('{random-no-dashes}', random.replaceAll('-', ''))
    .replace('{random}', random);
}

function isLimitInvalid(text: string): boolean | undefined {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isNaN(n) || !Number.isInteger(n) || n < 1 || n > 100;
}

/**
 * Generates the sweep: `samples` requests per route and body class, and every listed variant of the other classes.
 * Only requests that cannot change anything if accepted go to the real product and order without `mustReject`.
 */
export function generateSweep(rng: Rng, world: SweepWorld, samples: number): HostileRequest[] {
  const requests: HostileRequest[] = [];
  const customer = () => rng.pick(world.customers);
  const credentialsFor = (route: Route): string | undefined => {
    if (route.auth === 'admin') return rng.pick(world.admins);
    if (route.auth === 'owner') return OWNER;
    if (route.auth === 'customer') return customer();
    // public routes: anonymous a third of the time (per-address rate limits), else some customer
    return rng.chance(0.33) ? undefined : customer();
  };
  const realTarget = (route: Route) => (route.target === 'idOrSlug' ? rng.pick([world.productId, world.productSlug]) : world.productId);
  const idempotencyKey = () => `hostile-${rng.hex(16)}`;
  const add = (
    kind: string,
    route: Route,
    options: { target?: string; query?: string; authorization?: string | undefined; body?: Buffer | string; contentType?: string | undefined; headers?: Record<string, string>; label: string; mustReject: boolean },
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    // a request about a real order goes to that order with its owner's token (when the owner is asked for)
    const order = rng.pick(world.orders);
    const authorization = options.authorization === OWNER ? order.owner : options.authorization;
    if (authorization !== undefined) headers.authorization = authorization;
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    if (route.name === 'checkout' && !('idempotency-key' in headers) && kind !== 'bad-idempotency-key') headers['idempotency-key'] = idempotencyKey();
    const target = options.target ?? (route.target === 'order' ? order.id : route.target ? realTarget(route) : '');
    const path = `${route.path(target)}${options.query ? `?${options.query}` : ''}`;
    requests.push({
      kind,
      label: `${route.name}: ${options.label}`,
      method: route.method,
      path,
      headers,
      ...(options.body !== undefined ? { body: Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body, 'utf8') } : {}),
      mustReject: options.mustReject,
    });
  };
  /** a body that is certainly invalid for `route`, sent to its real target with proper credentials */
  const invalidBody = (kind: string, route: Route, body: unknown, label: string) => {
    if (!isInvalid(route.body!, body, route.stored ?? false)) return false;
    add(kind, route, { authorization: credentialsFor(route), body: toJsonText(body), contentType: JSON_TYPE, label, mustReject: true });
    return true;
  };
  const validText = (route: Route) => toJsonText(validBody(route.body!, rng));
  const show = (value: unknown) => {
    const text = value instanceof Raw ? value.text : typeof value === 'string' ? JSON.stringify(value) : toJsonText(value);
    return text.length > 60 ? `${text.slice(0, 40)}… (${text.length} chars)` : text;
  };

  for (const route of ROUTES) {
    const body = route.body;
    if (body) {
      const fields = fieldPaths(body);
      const tries = (kind: string, make: () => { value: unknown; label: string } | undefined) => {
        let made = 0;
        for (let attempt = 0; made < samples && attempt < samples * 8; attempt++) {
          const next = make();
          if (next && invalidBody(kind, route, next.value, next.label)) made++;
        }
      };
      tries('wrong-type', () => {
        const field = rng.pick(fields);
        const value = rng.pick(WRONG_TYPES);
        return { value: setAt(validBody(body, rng), field.path, value), label: `${field.path.join('.')} = ${show(value)}` };
      });
      const numbers = fields.filter((f) => f.spec.type === 'integer');
      if (numbers.length > 0) {
        tries('bad-number', () => {
          const field = rng.pick(numbers);
          const value = rng.chance(0.75) ? new Raw(rng.pick(BAD_NUMBER_LITERALS)) : rng.pick(NAN_LIKE);
          return { value: setAt(validBody(body, rng), field.path, value), label: `${field.path.join('.')} = ${show(value)}` };
        });
      }
      // bodies without strings ({stock}, {quantity}) get their huge and hostile strings as unknown fields
      const strings = fields.filter((f) => f.spec.type === 'string' || f.spec.type === 'array');
      if (strings.length === 0) strings.push({ path: ['note'], spec: str('', { max: 0 }), required: false });
      tries('bad-string', () => {
        const field = rng.pick(strings);
        const spec = field.spec;
        const tooLong = spec.type === 'string' && spec.max !== undefined ? 'y'.repeat(spec.max + 1) : 'y'.repeat(300);
        const text = rng.chance(0.15) ? tooLong : rng.pick(HOSTILE_STRINGS);
        const value = spec.type === 'array' ? (rng.chance(0.5) ? [text] : Array.from({ length: 11 }, () => 'g')) : text;
        return { value: setAt(validBody(body, rng), field.path, value), label: `${field.path.join('.')} = ${show(value)}` };
      });
      tries('huge-string', () => {
        const field = rng.pick(strings);
        // under the 64 KiB body limit (the schema's maxLength answers) or well over it (413)
        const value = hugeString(rng, rng.chance(0.5) ? rng.between(10_000, 20_000) : rng.between(100_000, 300_000));
        return { value: setAt(validBody(body, rng), field.path, field.spec.type === 'array' ? [value] : value), label: `${field.path.join('.')} = ${show(value)}` };
      });
      tries('deep-nesting', () => {
        const value = deepNest(rng.pick([50, 1_000, 5_000, 10_000]), rng.pick(['array', 'object']));
        if (rng.chance(0.3)) return { value, label: `the body is ${show(value)}` };
        const field = rng.pick(fields);
        return { value: setAt(validBody(body, rng), field.path, value), label: `${field.path.join('.')} = ${show(value)}` };
      });
      const required = fields.filter((f) => f.required);
      tries('missing-field', () => {
        if (required.length === 0) {
          // nothing required: the empty object is what fails (minProperties), if anything does
          return { value: {}, label: 'no field at all' };
        }
        const field = rng.pick(required);
        return { value: deleteAt(validBody(body, rng), field.path), label: `without ${field.path.join('.')}` };
      });
      const objects = [[] as string[], ...fields.filter((f) => f.spec.type === 'object').map((f) => f.path)];
      tries('extra-field', () => {
        const at = rng.pick(objects);
        const key = rng.pick(EXTRA_KEYS);
        const value = rng.pick(WRONG_TYPES);
        return { value: setAt(validBody(body, rng), [...at, key], value), label: `unknown ${[...at, key].join('.')} = ${show(value)}` };
      });
      // prototype pollution: secure-json-parse refuses these keys outright
      for (const text of ['{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"isAdmin":true}}}']) {
        const base = validText(route);
        add('extra-field', route, { authorization: credentialsFor(route), body: `${text.slice(0, -1)},${base.slice(1)}`, contentType: JSON_TYPE, label: `prototype keys ${text}`, mustReject: true });
      }
      tries('not-an-object', () => {
        const value = rng.pick<unknown>([[], [validBody(body, rng)], 'string', 0, -1, 1.5, null, true, false, new Raw('1e400'), [[[[]]]], `${validText(route)}`]);
        return { value, label: `the body is ${show(value)}` };
      });
      for (let i = 0; i < samples; i++) {
        const valid = validText(route);
        // a proper prefix of a JSON object is never JSON (and never empty: an optional body may be empty)
        const text = rng.chance(0.4) ? valid.slice(0, rng.between(1, valid.length - 1)) : rng.pick(MALFORMED);
        add('malformed-json', route, { authorization: credentialsFor(route), body: text, contentType: JSON_TYPE, label: `the body is ${show(text)}`, mustReject: true });
      }
      // invalid UTF-8 inside something that is not JSON anyway
      add('malformed-json', route, { authorization: credentialsFor(route), body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0xff, 0xfe, 0x7d]), contentType: JSON_TYPE, label: 'invalid UTF-8', mustReject: true });
      for (let i = 0; i < samples; i++) {
        const contentType = rng.pick(WRONG_CONTENT_TYPES);
        add('wrong-content-type', route, { authorization: credentialsFor(route), body: validText(route), contentType, label: `a valid body as ${contentType}`, mustReject: true });
      }
      add('wrong-content-type', route, { authorization: credentialsFor(route), body: validText(route), label: 'a valid body without a content type', mustReject: true });
      if (route.bodyRequired) {
        add('empty-body', route, { authorization: credentialsFor(route), body: '', contentType: JSON_TYPE, label: 'empty, as JSON', mustReject: true });
        add('empty-body', route, { authorization: credentialsFor(route), label: 'no body, no content type', mustReject: true });
        add('empty-body', route, { authorization: credentialsFor(route), body: '', contentType: 'text/plain', label: 'empty, as text/plain', mustReject: true });
      } else if (route.target) {
        // optional bodies: nothing is valid here, and cannot be sent to the real order; a made-up one answers 404
        add('empty-body', route, { target: rng.uuid(), authorization: credentialsFor(route), body: '', contentType: JSON_TYPE, label: 'empty, to an unknown order', mustReject: true });
      }
      for (let i = 0; i < Math.ceil(samples / 3); i++) {
        // valid JSON, but over the 64 KiB limit of the services (and, at 2 MiB, the edge's 1 MiB)
        const size = rng.pick([66_000, 200_000, 2_100_000]);
        const padded = toJsonText({ ...validBody(body, rng), padding: 'p'.repeat(size) });
        add('oversize-body', route, { authorization: credentialsFor(route), body: padded, contentType: JSON_TYPE, label: `${padded.length} bytes of JSON`, mustReject: true });
      }
    } else if (route.mutates) {
      // a route without a body that changes something: any body it is sent must be refused before the handler
      for (let i = 0; i < samples; i++) {
        const text = rng.pick(MALFORMED);
        add('malformed-json', route, { authorization: credentialsFor(route), body: text, contentType: JSON_TYPE, label: `the body is ${show(text)}`, mustReject: true });
        const contentType = rng.pick(WRONG_CONTENT_TYPES);
        add('wrong-content-type', route, { authorization: credentialsFor(route), body: '{}', contentType, label: `{} as ${contentType}`, mustReject: true });
      }
      add('oversize-body', route, { authorization: credentialsFor(route), body: toJsonText({ padding: 'p'.repeat(70_000) }), contentType: JSON_TYPE, label: '70 KB of JSON', mustReject: true });
    } else if (route.method === 'GET') {
      // bodies on GET: ignored or refused, never a fault; not to the real order (its stream would stay open)
      for (let i = 0; i < samples; i++) {
        const text = rng.pick([...MALFORMED, '{"limit":1000}', toJsonText({ padding: 'p'.repeat(70_000) }), toJsonText(deepNest(5_000, 'array'))]);
        const target = route.name === 'order events' ? rng.uuid() : undefined;
        add('body-on-get', route, { ...(target ? { target } : {}), authorization: credentialsFor(route), body: text, contentType: rng.pick([JSON_TYPE, 'text/plain']), label: `a GET with body ${show(text)}`, mustReject: target !== undefined });
      }
    }

    // path parameters that name nothing
    if (route.target) {
      for (const template of BAD_IDS) {
        const id = badId(template, rng, route.target === 'order' ? rng.pick(world.orders).id : world.productId);
        add('bad-path-param', route, { target: id, authorization: credentialsFor(route), ...(body ? { body: validText(route), contentType: JSON_TYPE } : {}), label: `:id = ${show(decodeSafe(id))}`, mustReject: true });
      }
    }

    // well-formed ids of nothing (probing for other people's orders, say): 404, with a body that would otherwise be taken
    if (route.target) {
      for (let i = 0; i < samples; i++) {
        const uuid = rng.uuid();
        const id = route.target === 'idOrSlug' && rng.chance(0.3) ? `no-such-${rng.hex(6)}` : rng.chance(0.2) ? uuid.toUpperCase() : uuid;
        add('unknown-id', route, { target: id, authorization: credentialsFor(route), ...(body ? { body: validText(route), contentType: JSON_TYPE } : {}), label: `:id = ${id}`, mustReject: true });
      }
    }

    // Authorization headers that are not a valid token: 401, even on public routes
    if (route.name !== 'dev token') {
      for (const { label, value } of world.badAuthorizations) {
        add('bad-authorization', route, { authorization: value, ...(body ? { body: validText(route), contentType: JSON_TYPE } : {}), label, mustReject: true });
      }
      if (route.auth !== 'public') {
        add('bad-authorization', route, { ...(body ? { body: validText(route), contentType: JSON_TYPE } : {}), label: 'no Authorization header', mustReject: true });
        add('bad-authorization', route, { authorization: '', ...(body ? { body: validText(route), contentType: JSON_TYPE } : {}), label: 'an empty Authorization header', mustReject: true });
      }
    }
    // a customer on an admin route: 403 before the body is read
    if (route.auth === 'admin') {
      for (const authorization of [...world.customers.slice(0, 2), ...world.notQuiteAdmins]) {
        add('customer-on-admin-route', route, { authorization, ...(body ? { body: validText(route), contentType: JSON_TYPE } : {}), label: 'a customer token', mustReject: true });
      }
    }
    // someone else's order: 404, never 403, and nothing happens to it
    if (route.auth === 'owner') {
      for (const authorization of world.customers.slice(1, 4)) {
        add('not-your-order', route, { authorization, ...(body ? { body: validText(route), contentType: JSON_TYPE } : {}), label: 'another customer', mustReject: true });
      }
    }
    if (route.name === 'order events') {
      // (not ' 1': HTTP strips the spaces around a header value, and 1 is a valid id)
      for (const lastEventId of ['', 'abc', '-1', '1e3', '1.5', '1 2', '9'.repeat(16), '0x10', Buffer.from('١٢', 'utf8').toString('latin1')]) {
        add('bad-header', route, { authorization: OWNER, headers: { 'last-event-id': lastEventId }, label: `Last-Event-ID: ${JSON.stringify(lastEventId)}`, mustReject: true });
      }
    }
    if (route.name === 'checkout') {
      // a valid body and a loaded cart: only the key is wrong, so accepting it would publish an order
      const keys = ['', ' ', 'k'.repeat(256), 'k'.repeat(10_000), Buffer.from('ключ-идемпотентности', 'utf8').toString('latin1'), 'tab\there', 'space inside', 'é'];
      for (const key of keys) {
        add('bad-idempotency-key', route, { authorization: customer(), body: validText(route), contentType: JSON_TYPE, headers: { 'idempotency-key': key }, label: `Idempotency-Key: ${show(key)}`, mustReject: true });
      }
      add('bad-idempotency-key', route, { authorization: customer(), body: validText(route), contentType: JSON_TYPE, label: 'no Idempotency-Key', mustReject: true });
    }
    if (route.query) queryRequests(route, rng, add, credentialsFor);
  }

  // methods the contract does not have, and paths the edge must not route
  const wrongMethods: [string, string][] = [
    ['PUT', '/api/catalog/products'], ['DELETE', '/api/catalog/categories'], ['POST', '/api/cart'], ['PATCH', '/api/checkout'],
    ['GET', '/api/checkout'], ['DELETE', '/api/orders'], ['PUT', '/api/admin/orders'], ['GET', '/api/dev/token'],
    ['GET', `/api/cart/items/${world.productId}`], ['POST', `/api/orders/${world.orders[0]!.id}`], ['PUT', `/api/orders/${world.orders[0]!.id}/cancel`],
    ['GET', `/api/admin/orders/${world.orders[0]!.id}/refund`], ['POST', `/api/catalog/products/${world.productId}`], ['PROPFIND', '/api/catalog/products'],
  ];
  const unrouted = [
    '/internal/products/lookup', '/api/internal/products/lookup', '/api', '/', '/api/catalog/../../internal/products/lookup',
    '/api/catalog/%2e%2e/%2e%2e/internal/products/lookup', '/api/cart/..%2f..%2finternal%2freservations', '//internal/products/lookup',
    '/api/catalog/products/..;/..;/internal/products/lookup', '/api/orders/%2e%2e%2f%2e%2e%2finternal', '/api/catalogue', '/api/cart%00',
    '/.well-known/../internal/products/lookup', '/api/dev/token/../../internal/products/lookup',
  ];
  for (const [method, path] of wrongMethods) {
    requests.push({ kind: 'wrong-method', label: `${method} ${path}`, method, path, headers: { authorization: rng.pick(world.admins), 'content-type': JSON_TYPE }, body: Buffer.from('{}'), mustReject: true });
  }
  for (const path of unrouted) {
    for (const method of ['GET', 'POST']) {
      requests.push({ kind: 'path-traversal', label: `${method} ${path}`, method, path, headers: { authorization: rng.pick(world.admins), 'content-type': JSON_TYPE }, body: Buffer.from(JSON.stringify({ ids: [world.productId] })), mustReject: true });
    }
  }
  return requests;
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

type Add = (
  kind: string,
  route: Route,
  options: { query?: string; authorization?: string | undefined; label: string; mustReject: boolean },
) => void;

function queryRequests(route: Route, rng: Rng, add: Add, credentialsFor: (route: Route) => string | undefined) {
  const q = (query: string, mustReject: boolean | undefined, label = query) =>
    add('bad-query', route, { query, authorization: credentialsFor(route), label: label.length > 80 ? `${label.slice(0, 60)}…` : label, mustReject: mustReject ?? false });
  const limits = ['-1', '0', 'abc', '1e9', '101', '1.5', '', '%20', 'NaN', 'Infinity', '-Infinity', '0x10', '1,2', '[]', '%7B%7D', '%00', '9'.repeat(400), '1e2', '+5', '05', '100.0'];
  for (const limit of limits) q(`limit=${limit}`, isLimitInvalid(decodeSafe(limit)));
  q('limit=5&limit=6', false);
  q('limit[]=5', false);
  q('limit[$gt]=0', false);

  const uuid = rng.uuid();
  const position = route.query === 'products'
    ? { forged: [['zzz', uuid], ['x'.repeat(300), uuid], ['\ud800', uuid], ['', uuid]], impossible: [['a\u0000b', uuid], ['\u0000', uuid]] }
    : {
        forged: [['9999-12-31T23:59:59.999Z', uuid], ['2024-02-30T00:00:00.000Z', uuid], ['1970-01-01T00:00:00.000Z', uuid.toUpperCase()]],
        impossible: [['0000-01-01T00:00:00.000Z', uuid], ['2024-13-01T00:00:00.000Z', uuid], ['2024-01-01T25:00:00.000Z', uuid]],
      };
  const cursors: [string, boolean][] = [
    ['!!!', true], ['a%20b', true], ['x'.repeat(513), true], ['%00', true], ['..%2f..%2f', true], ['abc%3D%3D', true], ['a%2Bb%2F', true],
    [cursorOf(Buffer.from(Array.from({ length: 48 }, () => rng.int(256))).toString('latin1')), true],
    [cursorOf('null'), true], [cursorOf('[]'), true], [cursorOf('{}'), true], [cursorOf('["a"]'), true], [cursorOf('[1,2]'), true],
    [cursorOf(['x', 'not-a-uuid']), true], [cursorOf([1, uuid]), true], [cursorOf(['x', uuid, 'extra']), true], [cursorOf('"just a string"'), true],
    [cursorOf(`${'['.repeat(2_000)}${']'.repeat(2_000)}`).slice(0, 512), true], [cursorOf({ name: 'x', id: uuid }), true],
    ...position.forged.map((p): [string, boolean] => [cursorOf(p), false]),
    ...position.impossible.map((p): [string, boolean] => [cursorOf(p), true]),
  ];
  for (const [cursor, mustReject] of cursors) q(`cursor=${cursor}`, mustReject, `cursor=${cursor} (${decodeCursorForLabel(cursor)})`);
  q(`cursor=${cursorOf(position.forged[0]!)}&cursor=${cursorOf(position.forged[1]!)}`, false, 'two cursors');

  q('unknown=1', true);
  q('limit=5&evil=1', true);
  q('__proto__%5BisAdmin%5D=true', true);
  q('constructor%5Bprototype%5D%5BisAdmin%5D=true', true);
  if (route.query === 'products') {
    for (const category of ['UPPER', 'a%20b', '..%2fx', '%00', 'x'.repeat(121), '-a', 'a--b', '', '%E2%80%AE', enc("' or 1=1 --")]) q(`category=${category}`, true);
    q('category=misc&category=toys', false);
    for (const text of ['', 'x'.repeat(101), 'x'.repeat(8_000)]) q(`q=${text}`, true);
    for (const text of ['%E2%80%AEevil', '%00', '%F0%9F%98%80', '%ED%A0%80', 'a%3A*%26!%7C()', enc("' or 1=1 --"), '%5C', '..%2f..%2f', 'the', enc('a & b | !c <-> d:*')]) q(`q=${text}`, false);
  }
  if (route.query === 'admin-orders') {
    for (const status of ['placed', 'FOO', '', 'PLACED,SHIPPED', '%00', 'PLACED%00', 'x'.repeat(500)]) q(`status=${status}`, true);
    q('status=PLACED&status=SHIPPED', false);
  }
}

function decodeCursorForLabel(cursor: string): string {
  const text = Buffer.from(decodeSafe(cursor), 'base64url').toString('utf8');
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
