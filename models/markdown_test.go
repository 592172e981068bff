package models_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"policykit/models"
)

// TestRenderMarkdownMatchesGoldmark: the budgeted renderer renders exactly what goldmark
// with GitHub's extensions and bluemonday render, for every feature members use.
func TestRenderMarkdownMatchesGoldmark(t *testing.T) {
	plain := goldmark.New(goldmark.WithExtensions(extension.GFM))
	ugc := bluemonday.UGCPolicy()
	docs := []string{
		"# Code of conduct\n\nBe **kind**, be _patient_, and ~~never~~ rarely shout.\n",
		"1. one\n2. two\n   - nested *a*\n   - nested `b`\n\n> quoted\n> > twice\n",
		"| who | what |\n|-----|------|\n| Ada | math |\n| Bob | **art** |\n",
		"- [x] done\n- [ ] to do\n",
		"See https://example.org and <https://example.org/x>, or [a link](https://example.org \"title\") and ![img](/i.png).\n",
		"```go\nfunc main() {}\n```\n\n    indented code\n\n---\n\n[ref]: https://example.org\n[a ref][ref]\n",
		"<script>alert(1)</script><a href=\"javascript:alert(1)\" onclick=\"x()\">click</a> <img src=x onerror=alert(1)>\n",
		"Line with trailing spaces  \nand a hard break; HTML entities &amp; &copy; and a footnote-like [^1].\n",
	}
	for _, src := range docs {
		got, err := models.RenderMarkdown(src)
		if err != nil {
			t.Fatalf("RenderMarkdown(%q): %v", src, err)
		}
		var buf bytes.Buffer
		if err := plain.Convert([]byte(src), &buf); err != nil {
			t.Fatal(err)
		}
		if want := ugc.Sanitize(buf.String()); got != want {
			t.Errorf("RenderMarkdown(%q) =\n%s\nwant\n%s", src, got, want)
		}
		for _, bad := range []string{"<script", "onclick", "onerror", "javascript:"} {
			if strings.Contains(got, bad) {
				t.Errorf("RenderMarkdown(%q) keeps %q: %s", src, bad, got)
			}
		}
	}
}

// TestRenderMarkdownIsBounded: texts on which goldmark is quadratic (the probe's 160 KB of
// unclosed links took 12–24 s) are refused within the time budget, the renderer still
// works afterwards, and oversized or control-character texts are refused at once.
func TestRenderMarkdownIsBounded(t *testing.T) {
	hostile := map[string]string{
		"unclosed links":  strings.Repeat("[a](", 40000),
		"unclosed images": strings.Repeat("![a](", 40000),
		"nested quotes":   strings.Repeat(">", 200000),
	}
	for name, src := range hostile {
		start := time.Now()
		_, err := models.RenderMarkdown(src)
		took := time.Since(start)
		if !errors.Is(err, models.ErrMarkdownTooComplex) {
			t.Errorf("%s: err = %v after %v, want too complex", name, err, took)
		}
		if took > 3*models.MarkdownTimeBudget+time.Second {
			t.Errorf("%s: refused after %v; the budget is %v", name, took, models.MarkdownTimeBudget)
		}
		if html, err := models.RenderMarkdown("still **works**"); err != nil || !strings.Contains(html, "<strong>works</strong>") {
			t.Fatalf("after %s: %q %v", name, html, err)
		}
	}
	if _, err := models.RenderMarkdown(strings.Repeat("a", models.MaxMarkdownBytes+1)); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("oversized text: %v", err)
	}
	if _, err := models.RenderMarkdown("nul \x00 here"); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("NUL: %v", err)
	}
}
