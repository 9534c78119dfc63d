// Jest reporter: when JEST_JSON_OUTPUT names a file, writes the run's totals
// there as JSON (the same field names as `jest --json`), so `pnpm test` itself
// can feed a summary without changing its command line:
//
//   JEST_JSON_OUTPUT=/tmp/jest.json pnpm test
//
// .ci/run prints its closing "N passed, N failed" line from this file. Unset,
// the reporter does nothing; jest's default reporter prints as usual.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

class JsonSummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.outputFile = process.env.JEST_JSON_OUTPUT || undefined;
  }

  onRunComplete(_contexts, results) {
    if (!this.outputFile) return;
    const failedTestFiles = results.testResults
      .filter((file) => file.numFailingTests > 0 || file.testExecError)
      .map((file) => path.relative(this.rootDir, file.testFilePath));
    const summary = {
      // jest sets results.success only after the reporters ran, so derive it.
      success:
        results.numFailedTests === 0 &&
        results.numRuntimeErrorTestSuites === 0 &&
        !results.snapshot.failure &&
        !results.runExecError,
      numTotalTestSuites: results.numTotalTestSuites,
      numPassedTestSuites: results.numPassedTestSuites,
      numFailedTestSuites: results.numFailedTestSuites,
      numRuntimeErrorTestSuites: results.numRuntimeErrorTestSuites,
      numTotalTests: results.numTotalTests,
      numPassedTests: results.numPassedTests,
      numFailedTests: results.numFailedTests,
      numPendingTests: results.numPendingTests,
      numTodoTests: results.numTodoTests,
      wasInterrupted: results.wasInterrupted,
      runExecError: results.runExecError ? results.runExecError.message : undefined,
      failedTestFiles,
      startTime: results.startTime,
    };
    const file = path.resolve(this.outputFile);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  }
}

module.exports = JsonSummaryReporter;
