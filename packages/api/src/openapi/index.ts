export {
  buildOpenApiDocument,
  OPERATIONS,
  type OpenApiDocument,
  type OpenApiDocumentOptions,
} from './build-openapi-document';
export { openApiPath, type OperationSpec } from './operation-spec';
