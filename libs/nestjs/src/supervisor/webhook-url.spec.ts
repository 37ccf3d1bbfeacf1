import { webhookUrlProblem } from './webhook-url';

describe('webhookUrlProblem', () => {
  it.each(['http://127.0.0.1:9000/hook', 'https://alerts.example.com/hook?token=abc', 'http://localhost/x'])(
    'accepts %s',
    (url) => expect(webhookUrlProblem(url)).toBeNull(),
  );

  it.each([
    ['http://127.0.0.1:6000/hook', /port 6000/],
    ['http://127.0.0.1:10080/', /port 10080/],
    ['https://example.com:22/', /port 22/],
    ['ftp://example.com/', /http:\/\/ or https:\/\//],
    ['not a url', /http:\/\/ or https:\/\//],
    ['https://user:pw@example.com/hook', /user or password/],
  ])('refuses %s', (url, message) => expect(webhookUrlProblem(url)).toMatch(message));

  it('agrees with fetch: a refused port is one fetch will not connect to', async () => {
    await expect(fetch('http://127.0.0.1:6000/', { signal: AbortSignal.timeout(2000) })).rejects.toMatchObject({
      cause: expect.objectContaining({ message: expect.stringMatching(/bad port/i) }),
    });
  });
});
