// Prints vitest's JSON report as one plain closing line ("N passed, N failed, N skipped"), so CI
// logs state the count in a form any reader understands. Exits non-zero if nothing ran.
import { readFileSync } from "node:fs";
import process from "node:process";

const report = JSON.parse(readFileSync(process.argv[2] ?? ".vitest-report.json", "utf8"));
const skipped = report.numPendingTests + report.numTodoTests;
process.stdout.write(
  `${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped\n`,
);
process.exit(report.numTotalTests > 0 && report.numFailedTests === 0 ? 0 : 1);
