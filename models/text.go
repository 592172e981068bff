package models

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The rules for text people type: one place, used by every name, title and free text the
// server stores, from forms, the API and platforms alike. PostgreSQL cannot store a NUL or
// invalid UTF-8 (it fails the whole statement), and invisible characters in a name let one
// member pass for another or make a title read differently than it is stored.

// CheckName validates a human name or title (community, member, account, role, policy,
// document, proposal, token): not empty, at most max characters, and no control
// characters or invisible formatting characters.
func CheckName(v *ValidationError, field, name string, max int) {
	if msg := NameProblem(name, max); msg != "" {
		v.Add(field, msg)
	}
}

// NameProblem says what is wrong with a name, or "" when nothing is.
func NameProblem(name string, max int) string {
	n := utf8.RuneCountInString(strings.TrimSpace(name))
	switch {
	case n == 0:
		return "must not be empty"
	case n > max:
		return fmt.Sprintf("must be at most %d characters", max)
	}
	return LineProblem(name)
}

// LineProblem says what is wrong with one line of text (a name, a channel, a list item)
// besides its length: invalid UTF-8, control characters, or invisible formatting.
func LineProblem(s string) string { return invisibleProblem(s, inName) }

// TextProblem says what is wrong with free text (a description, a document, a message):
// invalid UTF-8 or a control character other than tab and line breaks. It does not check
// the length.
func TextProblem(text string) string { return invisibleProblem(text, inText) }

// CodeProblem is TextProblem for policy code, which also refuses the bidirectional
// controls that make code read differently than it runs ("Trojan Source").
func CodeProblem(code string) string { return invisibleProblem(code, inCode) }

// CleanName removes from a name what CheckName refuses, for names that come from a
// platform, which we must store whatever they hold.
func CleanName(name string) string {
	name = strings.ToValidUTF8(name, "")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if refused(r, inName) {
			return -1
		}
		return r
	}, name))
}

type textKind int

const (
	inName textKind = iota
	inText
	inCode
)

func invisibleProblem(s string, kind textKind) string {
	if !utf8.ValidString(s) {
		return "is not valid text (invalid UTF-8)"
	}
	for i, r := range s {
		if refused(r, kind) {
			return fmt.Sprintf("contains an invisible control character (U+%04X at character %d); remove it",
				r, utf8.RuneCountInString(s[:i])+1)
		}
	}
	return ""
}

// refused tells whether r may not appear in text of this kind.
func refused(r rune, kind textKind) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return kind == inName
	case r < 0x20 || (r >= 0x7f && r < 0xa0): // C0 and C1 controls, DEL
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		// Bidirectional marks, embeddings, overrides and isolates.
		return kind != inText
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return kind != inText
	case r == 0x200b || r == 0x2060 || r == 0xfeff || r == 0x180e || r == 0x00ad:
		// Zero-width space, word joiner, byte-order mark, Mongolian vowel separator, soft
		// hyphen: invisible, so two names that look alike differ. (Zero-width joiners stay:
		// emoji and several scripts need them.)
		return kind == inName
	case r >= 0xfff9 && r <= 0xfffb: // interlinear annotation controls
		return true
	}
	return false
}
