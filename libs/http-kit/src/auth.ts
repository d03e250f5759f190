/**
 * Bearer-token authentication, Cognito-compatible: RS256 JWTs checked against a JWKS URL, the issuer and the
 * audience (`aud` for ID tokens, `client_id` for Cognito access tokens). `sub` is the customer; members of the
 * `admin` group in `cognito:groups` are administrators.
 *
 * Every request with an Authorization header is verified up front (a bad token is a 401 even on public routes);
 * routes then say what they need with `requireCustomer` / `requireAdmin`.
 */
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey, type JWTPayload } from 'jose';
import { forbidden, serviceUnavailable, unauthorized } from './errors.ts';

export interface Principal {
  sub: string;
  email: string | undefined;
  groups: string[];
  isAdmin: boolean;
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: Principal | null;
  }
}

export interface JwksVerifierOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** for tests and embedded mode: a key set already in hand instead of a URL */
  keySet?: JWTVerifyGetKey;
}

export function principalFromClaims(payload: JWTPayload): Principal {
  const groupsClaim = payload['cognito:groups'];
  const groups = Array.isArray(groupsClaim) ? groupsClaim.filter((g): g is string => typeof g === 'string') : [];
  const email = typeof payload.email === 'string' ? payload.email : undefined;
  return { sub: payload.sub as string, email, groups, isAdmin: groups.includes('admin') };
}

export function createJwksVerifier(options: JwksVerifierOptions): TokenVerifier {
  const keySet =
    options.keySet ?? createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 3_000 });
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keySet, { issuer: options.issuer, algorithms: ['RS256'] }));
      } catch (error) {
        if (error instanceof joseErrors.JWKSTimeout || (error instanceof TypeError && /fetch/i.test(error.message))) {
          throw serviceUnavailable('The identity provider cannot be reached', 5);
        }
        if (error instanceof joseErrors.JWTExpired) throw unauthorized('The token has expired');
        throw unauthorized('The token is not valid');
      }
      const audiences = Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [];
      const clientId = payload['client_id'];
      if (!audiences.includes(options.audience) && clientId !== options.audience) {
        throw unauthorized('The token is not meant for this audience');
      }
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 128) {
        throw unauthorized('The token has no subject');
      }
      return principalFromClaims(payload);
    },
  };
}

export const authPlugin = fp<{ verifier: TokenVerifier }>(
  async (app, { verifier }) => {
    app.decorateRequest('user', null);
    // Callback style: most requests carry no token, and they should not pay for a promise.
    app.addHook('onRequest', (request, _reply, done) => {
      const header = request.headers.authorization;
      if (!header) return done();
      const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(header);
      if (!match?.[1]) return done(unauthorized('Use Authorization: Bearer <token>'));
      verifier.verify(match[1]).then(
        (principal) => {
          request.user = principal;
          done();
        },
        (error: Error) => done(error),
      );
    });
  },
  { name: 'securecart-auth' },
);

/**
 * Route hooks, meant for `onRequest` so that who may call a route is settled before its body is even parsed:
 * a customer probing an admin route learns 403, not the shape of the body it expects.
 */
export const requireCustomer = async (request: FastifyRequest): Promise<void> => {
  if (!request.user) throw unauthorized();
};

export const requireAdmin = async (request: FastifyRequest): Promise<void> => {
  if (!request.user) throw unauthorized();
  if (!request.user.isAdmin) throw forbidden();
};
