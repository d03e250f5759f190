/**
 * The development identity provider of the local modes: an RSA key pair made at start, a JWKS at
 * /.well-known/jwks.json, and POST /api/dev/token {sub, groups?, email?} -> {accessToken, expiresIn}.
 * Its tokens look like Cognito's (RS256, `iss`, `aud`, `sub`, `cognito:groups`, `email`), so the services verify
 * them exactly as they verify Cognito's in AWS. It refuses to exist when NODE_ENV=production.
 */
import { randomUUID } from 'node:crypto';
import fp from 'fastify-plugin';
import { Type } from 'typebox';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import type { App } from '@securecart/http-kit';

export interface DevIdentityProviderOptions {
  issuer: string;
  audience: string;
  tokenTtlSeconds?: number;
  nodeEnv?: string;
}

export interface TokenRequest {
  sub: string;
  groups?: string[];
  email?: string;
}

export interface DevIdentityProvider {
  readonly issuer: string;
  readonly audience: string;
  jwks(): { keys: JWK[] };
  mint(request: TokenRequest): Promise<{ accessToken: string; expiresIn: number }>;
}

export async function createDevIdentityProvider(options: DevIdentityProviderOptions): Promise<DevIdentityProvider> {
  if ((options.nodeEnv ?? process.env.NODE_ENV) === 'production') {
    throw new Error('The development identity provider refuses to start with NODE_ENV=production');
  }
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const ttl = options.tokenTtlSeconds ?? 3600;
  return {
    issuer: options.issuer,
    audience: options.audience,
    jwks: () => ({ keys: [publicJwk] }),
    async mint({ sub, groups = [], email }) {
      const accessToken = await new SignJWT({
        'cognito:groups': groups,
        ...(email ? { email } : {}),
        token_use: 'access',
        scope: 'securecart/api',
      })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(sub)
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime(`${ttl}s`)
        .sign(privateKey);
      return { accessToken, expiresIn: ttl };
    },
  };
}

const TokenRequestSchema = Type.Object(
  {
    sub: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9@._:-]+$', description: 'the customer id' }),
    groups: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 10 })),
    email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
  },
  { additionalProperties: false },
);
const TokenResponse = Type.Object({ accessToken: Type.String(), expiresIn: Type.Integer() });

/** Routes of the identity provider, for the edge of the local modes. */
export const devIdentityRoutes = fp<{ idp: DevIdentityProvider }>(
  async (app, { idp }) => {
    const typed = app as unknown as App;
    typed.get('/.well-known/jwks.json', { schema: { hide: true } }, async () => idp.jwks());
    typed.post(
      '/api/dev/token',
      {
        schema: {
          tags: ['development'],
          summary: 'Mint a token from the development identity provider (local modes only)',
          body: TokenRequestSchema,
          response: { 200: TokenResponse },
        },
      },
      async (request) => idp.mint(request.body),
    );
  },
  { name: 'securecart-dev-idp' },
);
