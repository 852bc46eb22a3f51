/**
 * server/signing/openapi — GET /openapi.json: an OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0) generated
 * from the JSON schemas the signing API's routes validate with (fastify's own validation), collected by an `onRoute`
 * hook as the routes are registered. JSON Schema 2020-12 is OpenAPI 3.1's schema dialect, so route schemas are used
 * as they are. Only routes under /v1 are described.
 */
import type { RouteOptions } from 'fastify';
import type { JsonObject } from '../../encoding/json.ts';

/** UNAUTHENTICATED_POSTS are the POST routes that need no bearer token (the challenge-response pair). */
const UNAUTHENTICATED_POSTS = new Set(['/v1/auth/challenge', '/v1/auth/token']);

/** OpenApiCollector collects route schemas (`app.addHook('onRoute', c.onRoute)` before the routes register). */
export class OpenApiCollector {
  readonly #routes: Array<{ method: string; url: string; schema: Record<string, unknown> }> = [];

  readonly onRoute = (r: RouteOptions): void => {
    if (!r.url.startsWith('/v1/')) return;
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) {
      if (m === 'HEAD') continue;
      this.#routes.push({ method: m.toLowerCase(), url: r.url, schema: (r.schema ?? {}) as Record<string, unknown> });
    }
  };

  /** document renders the OpenAPI 3.1 document of the collected routes. */
  document(info: { title: string; version: string }): JsonObject {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.#routes) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const parameters: unknown[] = [];
      for (const [where, key] of [
        ['path', 'params'],
        ['query', 'querystring'],
      ] as const) {
        const s = r.schema[key] as { properties?: Record<string, unknown>; required?: string[] } | undefined;
        for (const [name, schema] of Object.entries(s?.properties ?? {})) {
          parameters.push({ name, in: where, required: where === 'path' || (s?.required ?? []).includes(name), schema });
        }
      }
      for (const m of path.matchAll(/\{([A-Za-z0-9_]+)\}/g)) {
        if (!parameters.some((p) => (p as { name: string }).name === m[1])) parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
      }
      const op: Record<string, unknown> = {
        operationId: `${r.method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_x, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
        responses: {
          default: { description: 'the answer; refusals are {code, message, hint} with the status of their code (docs/errors.md)' },
        },
      };
      if (parameters.length > 0) op.parameters = parameters;
      if (r.schema.body !== undefined) op.requestBody = { required: true, content: { 'application/json': { schema: r.schema.body } } };
      if (r.method === 'post' && !UNAUTHENTICATED_POSTS.has(r.url)) op.security = [{ bearer: [] }];
      (paths[path] ??= {})[r.method] = op;
    }
    return JSON.parse(
      JSON.stringify({
        openapi: '3.1.0',
        info: { title: info.title, version: info.version, description: 'The Custody signing API (Certus-Trust field names); docs/signing-api.md' },
        jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'custody token create, or POST /v1/auth/token' } } },
        paths,
      }),
    ) as JsonObject;
  }
}
