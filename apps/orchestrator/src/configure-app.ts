import { type INestApplication, ValidationPipe } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import type { EngineConfig } from '@app/runtime';
import { ApiError } from './http/api-error';

/**
 * HTTP settings shared by the real bootstrap and the end-to-end tests, so tests exercise what ships:
 * JSON only, a body limit, strict validation (unknown fields refused, no implicit conversion).
 */
export function configureApp(app: INestApplication, config: EngineConfig): void {
  const express = app as NestExpressApplication;
  express.disable('x-powered-by');
  express.set('query parser', 'extended');
  express.use(requireJson);
  express.useBodyParser('json', { limit: config.BODY_LIMIT_BYTES, strict: true });
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      validationError: { target: false, value: false },
    }),
  );
  app.enableShutdownHooks();
  // OpenAPI: the UI at /docs, the document at /docs-json (open, like /health; the API itself needs a key).
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Saga engine')
      .setDescription('Start and watch sagas, act on them as an operator. Keys: `Authorization: Bearer <key>`.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key (SAGA_API_KEYS)' })
      .addSecurityRequirements('bearer')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

/** Bodies must be JSON; anything else is a 415 rather than a confusing "type must be a string". */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if ((hasBody || chunked) && !req.is('application/json')) {
    next(new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json'));
    return;
  }
  next();
}
