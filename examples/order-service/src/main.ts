import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  // No body parser for every route: the saga API under /sagas checks the key before it reads a body, and
  // AppModule parses JSON for the app's own routes.
  const app = await NestFactory.create(AppModule, { bodyParser: false });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  // SIGTERM: the engine's agent lets its running steps finish and report, then the app stops.
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3200), process.env.HOST ?? '127.0.0.1');
  console.log(`order service on ${await app.getUrl()} (POST /orders, the saga API under /sagas)`);
}

void bootstrap();
