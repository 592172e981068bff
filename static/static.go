// Package static embeds the bundled front-end assets (built into dist/ by `make assets`).
package static

import "embed"

// FS holds dist/: app.js (htmx), editor.js (CodeMirror), builder.js, style.css (Pico CSS +
// ours) and favicon.svg.
//
//go:embed all:dist
var FS embed.FS
