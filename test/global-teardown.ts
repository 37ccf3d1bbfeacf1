export default async function globalTeardown(): Promise<void> {
  // Each test file drops its own database and Redis keys; nothing shared to clean here.
}
