package models

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// maxPasswordBytes is bcrypt's limit: it ignores everything after 72 bytes.
const maxPasswordBytes = 72

//go:embed common_passwords.txt
var commonPasswordsFile string

// commonPasswords is the set of the 10,000 most common passwords (lower case), built on
// first use and never changed.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10_000)
	for line := range strings.Lines(commonPasswordsFile) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			set[line] = struct{}{}
		}
	}
	return set
})

// PasswordProblem says what is wrong with a new password, or "" when nothing is: it must
// be 10 to 72 bytes long, not one of the 10,000 most common passwords (in any letter
// case), and not the person's own email or name (personal). Every place that sets a
// password checks it here.
func PasswordProblem(password string, personal ...string) string {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Sprintf("must be at least %d characters", MinPasswordLength)
	case len(password) > maxPasswordBytes:
		return fmt.Sprintf("must be at most %d bytes", maxPasswordBytes)
	}
	folded := strings.ToLower(password)
	if _, common := commonPasswords()[folded]; common {
		return "is one of the most common passwords, which are guessed first; choose another"
	}
	for _, p := range personal {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" && (folded == p || strings.Contains(p, "@") && folded == strings.SplitN(p, "@", 2)[0]) {
			return "must not be your name or email"
		}
	}
	return ""
}
