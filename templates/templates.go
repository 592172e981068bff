// Package templates embeds the server-rendered HTML: one layout, one file per page and one
// file per reusable fragment (partials/), each fragment also served alone to htmx.
package templates

import "embed"

// FS holds layouts/, pages/ and partials/.
//
//go:embed layouts pages partials
var FS embed.FS
