import 'reflect-metadata';
// Runs before each e2e test file: quiet Nest logs unless asked for.
process.env.LOG_LEVEL ??= 'error';
