// End-to-end tests wait for real retries, backoffs and process restarts. `testTimeout` is a global Jest option
// (ignored inside a project), so the e2e project sets its own here and unit tests keep the strict default.
jest.setTimeout(60_000);
