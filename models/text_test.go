package models_test

import (
	"testing"

	"policykit/models"
)

func TestTextRules(t *testing.T) {
	tests := []struct {
		in               string
		name, text, code bool // accepted as a name, as free text, as policy code
	}{
		{"Ada Lovelace", true, true, true},
		{"Zoë 🧑‍💻 (زهرا)", true, true, true}, // zero-width joiner in an emoji, Arabic script
		{"line one\nline two\ttabbed", false, true, true},
		{"nul\x00", false, false, false},
		{"bad \xff utf-8", false, false, false},
		{"esc \x1b[0m", false, false, false},
		{"c1 \u0085 next line", false, false, false},
		{"if admin \u202e{ PASSED }", false, true, false}, // Trojan Source: text may, code may not
		{"isolate \u2066x\u2069", false, true, false},
		{"zero\u200bwidth", false, true, true},
		{"bom\ufeff", false, true, true},
	}
	for _, tt := range tests {
		if got := models.NameProblem(tt.in, 80) == ""; got != tt.name {
			t.Errorf("NameProblem(%q) accepted = %v, want %v", tt.in, got, tt.name)
		}
		if got := models.TextProblem(tt.in) == ""; got != tt.text {
			t.Errorf("TextProblem(%q) accepted = %v, want %v", tt.in, got, tt.text)
		}
		if got := models.CodeProblem(tt.in) == ""; got != tt.code {
			t.Errorf("CodeProblem(%q) accepted = %v, want %v", tt.in, got, tt.code)
		}
		if clean := models.CleanName(tt.in); clean != "" && models.NameProblem(clean, 80) != "" {
			t.Errorf("CleanName(%q) = %q, still refused: %s", tt.in, clean, models.NameProblem(clean, 80))
		}
	}
}
