import { resolveSagaOptions } from './options';

const base = { databaseUrl: 'postgres://postgres@127.0.0.1:5432/app', sagas: [] };

describe('resolveSagaOptions: supervisor.alertWebhookUrl', () => {
  it('takes an http(s) URL fetch can reach', () => {
    const resolved = resolveSagaOptions(
      { ...base, supervisor: { alertWebhookUrl: 'https://hooks.example.com/alerts?token=x' } },
      ['supervisor'],
    );
    expect(resolved.alertWebhookUrl).toBe('https://hooks.example.com/alerts?token=x');
  });

  it.each([
    ['http://127.0.0.1:6666/alerts', 'supervisor.alertWebhookUrl uses port 6666, which fetch refuses'],
    ['ftp://example.com/x', 'supervisor.alertWebhookUrl must be an http:// or https:// URL'],
  ])('refuses %j at start-up, naming the option', (url, message) => {
    expect(() => resolveSagaOptions({ ...base, supervisor: { alertWebhookUrl: url } }, ['supervisor'])).toThrow(
      message,
    );
  });
});
