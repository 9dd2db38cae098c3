// Builds the explore page and the notebook widget into the Python package (no CDN at run time).
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "attnflow", "viz", "assets", "frontend");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "licenses"), { recursive: true });

const common = { bundle: true, minify: true, target: "es2020", legalComments: "none", logLevel: "warning" };
await build({ ...common, entryPoints: [join(here, "src", "explore.js")], outfile: join(out, "explore.js"), format: "iife" });
await build({ ...common, entryPoints: [join(here, "src", "widget.js")], outfile: join(out, "widget.js"), format: "esm" });

cpSync(join(here, "index.html"), join(out, "index.html"));
// KaTeX's style sheet and fonts are not copied: the page uses the copy vendored for the report
// (viz/assets/katex, the same KaTeX version as package.json), served at /static/katex.
for (const pkg of ["three", "katex"]) {
  cpSync(join(here, "node_modules", pkg, "LICENSE"), join(out, "licenses", `${pkg}.LICENSE`));
}
const versions = Object.fromEntries(
  ["three", "katex", "esbuild"].map((pkg) => [pkg, JSON.parse(readFileSync(join(here, "node_modules", pkg, "package.json"))).version]),
);
writeFileSync(join(out, "BUILD.json"), JSON.stringify({ built_from: "frontend/ (npm ci && node build.mjs)", versions }, null, 2));
