/**
 * A mistake in a test's setup or a saga that the test kit cannot run (a step name that does not exist, a missing
 * dep, a saga that never settles). Rejects `result()` and `advance()`: it is the test that is wrong, not the
 * saga's behaviour under test, so it never becomes a step failure.
 */
export class SagaTestError extends Error {
  override readonly name = 'SagaTestError' as const;
}
