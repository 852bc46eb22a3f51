/**
 * test/support/oidc-provider — a real OpenID provider in-process (the `oidc-provider` package, the certified
 * node-openid-provider) on a loopback port: discovery, JWKS and a token endpoint issuing RFC 9068 JWT access tokens
 * by the client-credentials grant (resourceIndicators feature). No token is mocked: the daemon under test fetches
 * this provider's discovery document and JWKS and verifies the tokens it signed.
 *
 * Each client gets the claims given for it (e.g. `email`, `email_verified`) added to its access tokens through the
 * provider's `extraTokenClaims` hook, as an IdP adds profile claims.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface TestClient {
  id: string;
  secret: string;
  /** claims added to this client's access tokens. */
  claims?: Record<string, unknown>;
}

export interface TestProvider {
  issuer: string;
  /** privateJwk is the provider's signing key (ES256, with its kid): tests use it to make tokens the provider would not. */
  privateJwk: JWK;
  /** token fetches an access token for a client from the token endpoint (client-credentials grant). */
  token(client: TestClient, resource?: string): Promise<string>;
}

/**
 * startProvider runs a provider whose tokens are for `audience` (resource `https://custody.test/`), or for another
 * audience when the resource `https://other.test/` is asked for; closes it after the test.
 */
export async function startProvider(t: TestContext, o: { audience: string; clients: TestClient[] }): Promise<TestProvider> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  server.unref();
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid: 'test-es256-1', alg: 'ES256', use: 'sig' };
  const byId = new Map(o.clients.map((c) => [c.id, c]));
  const provider = new Provider(issuer, {
    clients: o.clients.map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
    })),
    jwks: { keys: [privateJwk] },
    ttl: { ClientCredentials: 300 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://custody.test/',
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'sign verify',
          audience: resource === 'https://other.test/' ? 'some-other-service' : o.audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => byId.get(token.clientId ?? '')?.claims,
  });
  handler = provider.callback();
  return {
    issuer,
    privateJwk,
    async token(client, resource) {
      const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret, scope: 'sign verify', ...(resource === undefined ? {} : { resource }) });
      const r = await fetch(`${issuer}/token`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      const j = (await r.json()) as { access_token?: string; error?: string; error_description?: string };
      if (j.access_token === undefined) throw new Error(`token endpoint: ${r.status} ${j.error ?? ''} ${j.error_description ?? ''}`);
      return j.access_token;
    },
  };
}
