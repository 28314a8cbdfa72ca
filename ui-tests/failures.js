/**
 * Print each failed test of the last Playwright runs (reports/*.json, written by the
 * configs' JSON reporters) with the start of its error, so that the end of a long
 * `make test` output says what failed and why.
 */
const fs = require('fs');
const path = require('path');

const ANSI = /\u001b\[[0-9;]*m/g;
const LINES = 25;

function* specs(suite) {
  for (const spec of suite.specs ?? []) {
    yield spec;
  }
  for (const child of suite.suites ?? []) {
    yield* specs(child);
  }
}

const folder = path.join(__dirname, 'reports');
const reports = fs.existsSync(folder) ? fs.readdirSync(folder).sort() : [];
for (const name of reports.filter(name => name.endsWith('.json'))) {
  const report = JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8'));
  for (const suite of report.suites ?? []) {
    for (const spec of specs(suite)) {
      for (const test of spec.tests) {
        const failed = test.results.filter(
          result => result.status === 'failed' || result.status === 'timedOut'
        );
        for (const result of failed) {
          console.log(
            `--- ${path.basename(name, '.json')}: ${spec.file}:${spec.line} ${spec.title} (${result.status})`
          );
          for (const error of result.errors ?? []) {
            const text = (error.message ?? error.value ?? '').replace(ANSI, '');
            console.log(text.split('\n').slice(0, LINES).join('\n'));
          }
        }
      }
    }
  }
}
