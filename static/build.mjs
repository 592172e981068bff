// Bundles the front-end packages and our own scripts and styles into dist/, which the Go
// binary embeds (static/static.go). Run by `make assets`; nothing is fetched at run time.
import * as esbuild from "esbuild";

await esbuild.build({
  entryPoints: {
    app: "src/app.js",
    editor: "src/editor.js",
    builder: "src/builder.js",
    style: "src/app.css",
    favicon: "src/favicon.svg",
  },
  loader: { ".svg": "copy" },
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ["es2020"],
  outdir: "dist",
  logLevel: "warning",
});
