package engine

import (
	"strings"

	"policykit/models"
)

// RuleCovering puts what a policy covers in front of its rule, so the sentence frozen into
// each proposal says what it is about: "When someone renames a channel, a jury of 3 members
// …". labels are the labels of the action types it covers ("Rename a channel"); without any
// (a base policy) the rule is returned as it is.
func RuleCovering(kind string, labels []string, rule string) string {
	if len(labels) == 0 || rule == "" {
		return rule
	}
	phrases := make([]string, len(labels))
	for i, l := range labels {
		phrases[i] = lowerFirst(l)
		if kind == models.KindPlatform {
			phrases[i] = thirdPerson(phrases[i])
		}
	}
	what := joinOr(phrases)
	if kind == models.KindConstitution {
		what = "proposes to " + what
	}
	head := "When someone " + what
	// Join into one sentence when the rule starts with a common word; a rule that starts
	// with a name keeps its capital after a colon.
	first, _, _ := strings.Cut(rule, " ")
	switch first {
	case "A", "All", "The", "Members", "Every", "It", "This", "Nobody":
		return head + ", " + lowerFirst(rule)
	}
	return head + ": " + rule
}

// ActionLabels maps every action type to its label, for rules to name what they cover.
func (e *Engine) ActionLabels() map[string]string {
	out := make(map[string]string, len(e.types.types))
	for name, t := range e.types.types {
		out[name] = t.Label
	}
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// thirdPerson turns an action label's verb into the third person ("rename a channel" →
// "renames a channel").
func thirdPerson(phrase string) string {
	verb, rest, _ := strings.Cut(phrase, " ")
	switch {
	case strings.HasSuffix(verb, "s"), strings.HasSuffix(verb, "sh"), strings.HasSuffix(verb, "ch"), strings.HasSuffix(verb, "x"):
		verb += "es"
	case strings.HasSuffix(verb, "y") && len(verb) > 1 && !strings.ContainsRune("aeiou", rune(verb[len(verb)-2])):
		verb = verb[:len(verb)-1] + "ies"
	default:
		verb += "s"
	}
	if rest == "" {
		return verb
	}
	return verb + " " + rest
}

// joinOr writes a, b or c.
func joinOr(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
