/**
 * A jest reporter that fails the run when any test was skipped or left as a todo. After the README's set-up every
 * test runs on every machine: a skip hides a missing tool or fixture, so it is a failure here, not only in CI.
 */
class NoSkipsReporter {
  onRunComplete(_contexts, results) {
    const skipped = [];
    for (const file of results.testResults) {
      for (const t of file.testResults) {
        if (t.status === 'pending' || t.status === 'todo' || t.status === 'skipped') skipped.push(`${t.fullName} (${file.testFilePath})`);
      }
    }
    if (skipped.length) {
      this.error = new Error(`${skipped.length} test(s) skipped; every test must run after the README's set-up:\n  ${skipped.join('\n  ')}`);
      process.stderr.write(`\n${this.error.message}\n`);
    }
  }
  getLastError() {
    return this.error;
  }
}
module.exports = NoSkipsReporter;
