package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"policykit/engine"
)

// hostileNames are names a form or the API must refuse with a field error: each used to
// be stored (SQLite) or to fail the statement with a 500 (PostgreSQL, NUL and bad UTF-8).
var hostileNames = map[string]string{
	"NUL":                     "Club\x00",
	"invalid UTF-8":           "Club \xff\xfe",
	"escape":                  "Club \x1b[31m",
	"newline":                 "Club\nSecond line",
	"C1 control":              "Cl\u0085ub",
	"right-to-left override":  "Club \u202Egnp.exe",
	"right-to-left isolate":   "Club \u2067x",
	"zero-width space alone":  "\u200b",
	"byte-order mark":         "\ufeffClub",
	"line separator":          "Club\u2028Two",
	"left-to-right mark only": "Club\u200e",
}

// TestNamesRefuseInvisibleCharacters submits every kind of name and title, through the
// forms and the JSON API, with each hostile name: every one answers 422 with an error on
// its field, and nothing is written.
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	app := newTestApp(t)
	owner := app.browser()
	owner.signup("Owner Person")
	slug := owner.createCommunity("Owners")
	token := app.token("owner.person@example.org")
	tables := []string{"accounts", "communities", "members", "api_tokens", "actions", "proposals", "roles", "policies", "documents"}
	before := map[string]int64{}
	for _, tbl := range tables {
		before[tbl] = app.count(tbl)
	}

	type target struct {
		name  string
		field string
		form  func(bad string) (path string, values url.Values) // a page form
		api   func(bad string) (path, body string)              // or an API call
	}
	propose := func(typ string, fields map[string]string, badField string) func(string) (string, url.Values) {
		return func(bad string) (string, url.Values) {
			v := url.Values{}
			for k, x := range fields {
				v.Set(k, x)
			}
			v.Set(badField, bad)
			return "/c/" + slug + "/propose/" + typ, v
		}
	}
	targets := []target{
		{name: "sign-up name", field: "name", form: func(bad string) (string, url.Values) {
			return "/signup", url.Values{"name": {bad}, "email": {"new@example.org"}, "password": {"correct horse battery"}}
		}},
		{name: "community name", field: "name", form: func(bad string) (string, url.Values) {
			return "/communities", url.Values{"name": {bad}, "slug": {"fresh"}, "starter_kit": {engine.KitEverythingPasses}}
		}},
		{name: "token name", field: "name", form: func(bad string) (string, url.Values) {
			return "/account/tokens", url.Values{"name": {bad}}
		}},
		{name: "role name", field: "name", form: propose(engine.TypeAddRole, nil, "name")},
		{name: "policy name", field: "name", form: propose(engine.TypeAddPolicy,
			map[string]string{"kind": "platform", "check": "PASSED"}, "name")},
		{name: "document title", field: "title", form: propose(engine.TypeAddDocument, map[string]string{"body": "Text."}, "title")},
		{name: "community settings name", field: "name", form: propose(engine.TypeChangeSettings, nil, "name")},
		{name: "election title", field: "title", form: propose(engine.TypeElection, nil, "title")},
		{name: "API community name", field: "name", api: func(bad string) (string, string) {
			return "/api/v1/communities", fmt.Sprintf(`{"name":%s,"starter_kit":%q}`, jsonString(bad), engine.KitEverythingPasses)
		}},
		{name: "API document title", field: "title", api: func(bad string) (string, string) {
			return "/api/v1/communities/" + slug + "/actions",
				fmt.Sprintf(`{"type":%q,"params":{"title":%s,"body":"Text."}}`, engine.TypeAddDocument, jsonString(bad))
		}},
	}
	for _, tg := range targets {
		for kind, bad := range hostileNames {
			t.Run(tg.name+"/"+kind, func(t *testing.T) {
				if tg.api != nil {
					if !utf8.ValidString(bad) {
						t.Skip("JSON decoding replaces invalid UTF-8 with U+FFFD, which is stored as it is")
					}
					path, body := tg.api(bad)
					var got apiErr
					if status := app.api(http.MethodPost, path, token, strings.NewReader(body), &got); status != http.StatusUnprocessableEntity {
						t.Fatalf("status %d, want 422 (%+v)", status, got)
					}
					if got.Error.Fields[tg.field] == "" {
						t.Fatalf("no error on %s: %+v", tg.field, got.Error)
					}
					return
				}
				path, form := tg.form(bad)
				b := owner
				if path == "/signup" {
					b = app.browser()
				}
				b.get(path)
				resp, doc := b.post(path, form)
				if resp.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422", resp.StatusCode)
				}
				msg := strings.TrimSpace(doc.Find("#e-" + tg.field).Text())
				if msg == "" {
					t.Fatalf("no inline error on %s", tg.field)
				}
			})
		}
	}
	for _, tbl := range tables {
		if n := app.count(tbl); n != before[tbl] {
			t.Errorf("%s went from %d to %d rows", tbl, before[tbl], n)
		}
	}
}

// TestInvisibleCharactersInAddressesAndSignIn: a NUL or bad UTF-8 in a path, a filter or
// the sign-in email is a clear 4xx, never a 500 (PostgreSQL cannot compare with them).
func TestInvisibleCharactersInAddressesAndSignIn(t *testing.T) {
	app := newTestApp(t)
	owner := app.browser()
	owner.signup("Owner Person")
	slug := owner.createCommunity("Owners")
	token := app.token("owner.person@example.org")
	for _, path := range []string{"/c/%00", "/c/" + slug + "%00/members", "/invite/abc%00", "/c/" + slug + "/proposals?status=%00",
		"/c/" + slug + "/proposals?type=%FF", "/c/" + slug + "/audit?kind=a%00b"} {
		if status, _ := owner.get(path); status != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", path, status)
		}
	}
	for _, path := range []string{"/api/v1/communities/%00/proposals", "/api/v1/communities/" + slug + "/proposals?status=%00"} {
		if status := app.api(http.MethodGet, path, token, nil, nil); status != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", path, status)
		}
	}
	b := app.browser()
	b.get("/signin")
	for _, email := range []string{"owner.person@example.org\x00", "owner\xff@example.org"} {
		if resp, _ := b.post("/signin", url.Values{"email": {email}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign in as %q: status %d, want 401", email, resp.StatusCode)
		}
	}
}

func jsonString(s string) string {
	// Go's encoding/json would replace invalid UTF-8; write the bytes as a client could.
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
