import path from 'node:path';
import express, { Router } from 'express';
import { buildOpenApiDocument, type OpenApiDocumentOptions } from '../openapi';

export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PATH = '/docs';

/**
 * swagger-ui-dist's directory (what its getAbsoluteFSPath() answers), found
 * without loading the package's main module, which evaluates the 1.5 MB UI
 * bundle in this process.
 */
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald API reference</title>
<link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png">
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(OPENAPI_PATH)},
  dom_id: '#swagger-ui',
  deepLinking: true,
  displayOperationId: true,
  validatorUrl: null,
});
</script>
</body>
</html>
`;

/**
 * The OpenAPI document at /openapi.json and Swagger UI at /docs, both without
 * auth (they describe the API; they grant nothing). The document is built on
 * first request, once.
 */
export function apiDocsRoutes(options: OpenApiDocumentOptions = {}): Router {
  const router = Router();
  let json: string | undefined;
  router.get(OPENAPI_PATH, (_req, res) => {
    json ??= JSON.stringify(buildOpenApiDocument(options));
    res.type('application/json').send(json);
  });
  router.get(DOCS_PATH, (_req, res) => {
    res.type('html').send(PAGE);
  });
  router.use(DOCS_PATH, express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1h' }));
  return router;
}
