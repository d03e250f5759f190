/** Starts the development identity provider on a free port, so apps under test verify real JWTs over HTTP. */
import Fastify from 'fastify';
import { createDevIdentityProvider, devIdentityRoutes, type DevIdentityProvider } from '@securecart/dev-idp';

export interface TestIdentityProvider {
  idp: DevIdentityProvider;
  jwksUrl: string;
  issuer: string;
  audience: string;
  token(sub: string, options?: { admin?: boolean; email?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIdentityProvider(): Promise<TestIdentityProvider> {
  const app = Fastify();
  const issuer = 'https://idp.test.securecart.dev';
  const audience = 'securecart-test';
  const idp = await createDevIdentityProvider({ issuer, audience, nodeEnv: 'test' });
  await app.register(devIdentityRoutes, { idp });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    idp,
    jwksUrl: `${address}/.well-known/jwks.json`,
    issuer,
    audience,
    token: async (sub, options = {}) =>
      (await idp.mint({ sub, groups: options.admin ? ['admin'] : [], ...(options.email ? { email: options.email } : {}) })).accessToken,
    close: () => app.close(),
  };
}
