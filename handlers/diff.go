package handlers

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/pmezard/go-difflib/difflib"

	"policykit/models"
)

// diffLine is one line of a line diff: Op is "+" (added), "-" (removed) or " " (kept). The
// sign is printed with the line, so the diff reads without colour.
type diffLine struct {
	Op   string
	Text string
}

// lineDiff compares two texts line by line (difflib's sequence matcher, the algorithm of
// Python's difflib), keeping up to three unchanged lines around each change.
func lineDiff(a, b string) []diffLine {
	if a == b {
		return nil
	}
	al, bl := splitLines(a), splitLines(b)
	m := difflib.NewMatcher(al, bl)
	var out []diffLine
	for _, group := range m.GetGroupedOpCodes(3) {
		if len(out) > 0 {
			out = append(out, diffLine{Op: " ", Text: "…"})
		}
		for _, op := range group {
			switch op.Tag {
			case 'e':
				for _, l := range al[op.I1:op.I2] {
					out = append(out, diffLine{" ", l})
				}
			default:
				for _, l := range al[op.I1:op.I2] {
					out = append(out, diffLine{"-", l})
				}
				for _, l := range bl[op.J1:op.J2] {
					out = append(out, diffLine{"+", l})
				}
			}
		}
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// fieldDiff is the diff of one named field between two versions.
type fieldDiff struct {
	Field string
	Lines []diffLine
}

// diffFields compares named fields in order, keeping only those that changed.
func diffFields(names []string, a, b map[string]string) []fieldDiff {
	var out []fieldDiff
	for _, n := range names {
		if lines := lineDiff(a[n], b[n]); lines != nil {
			out = append(out, fieldDiff{Field: n, Lines: lines})
		}
	}
	return out
}

// queryVersion picks the version a query parameter names (def when it is absent) among
// versions keyed by number: a malformed number is a bad request, an unknown one not found.
func queryVersion[V any](c *gin.Context, key string, def int, byNumber map[int]V) (V, error) {
	n := def
	if s := c.Query(key); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			var none V
			return none, fmt.Errorf("%s must be a version number: %w", key, errBadRequest)
		}
	}
	v, ok := byNumber[n]
	if !ok {
		return v, fmt.Errorf("version %d: %w", n, models.ErrNotFound)
	}
	return v, nil
}
