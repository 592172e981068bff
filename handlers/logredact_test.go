package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink the server writes from its request goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRequestLogRedactsCredentials: invite codes, tokens in unknown paths and OAuth
// code/state never reach the request log, while the rest of the address does.
func TestRequestLogRedactsCredentials(t *testing.T) {
	var logs lockedBuffer
	app := newTestAppLogging(t, &logs)
	owner := app.browser()
	owner.signup("Owner Person")
	slug := owner.createCommunity("Owners")
	_, doc := owner.post("/c/"+slug+"/invites", nil)
	link, _ := doc.Find(`input[aria-label="Invite link"]`).Attr("value")
	code := link[strings.LastIndex(link, "/")+1:]
	if code == "" {
		t.Fatal("no invite code")
	}
	token := app.token("owner.person@example.org")

	guest := app.browser()
	guest.get("/invite/" + code)     // the invite page
	guest.signup("Guest Person")     // then sign up
	guest.post("/invite/"+code, nil) // and accept
	app.api(http.MethodPost, "/api/v1/invites/"+code+"/accept", token, nil, nil)
	secrets := map[string]string{"invite code": code}
	oauthCode, state := "oauth-code-0123456789abcdef", "state-0123456789abcdef"
	secrets["oauth code"], secrets["oauth state"] = oauthCode, state
	owner.get("/integrations/slack/oauth?" + url.Values{"code": {oauthCode}, "state": {state}}.Encode())
	unsubscribe := "u0123456789abcdefUNSUB"
	secrets["unknown token path"] = unsubscribe
	owner.get("/unsubscribe/" + unsubscribe)
	owner.get("/c/" + slug + "/proposals?status=pending&token=" + token)
	secrets["API token in a query"] = token

	out := logs.String()
	for what, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the request log holds the %s %q", what, secret)
		}
	}
	for _, want := range []string{"path=/invite/[redacted]", "path=/api/v1/invites/[redacted]/accept", "status=pending",
		"path=/unsubscribe/[redacted]", "/c/" + slug + "/proposals"} {
		if !strings.Contains(out, want) {
			t.Errorf("the request log lacks %q:\n%s", want, out)
		}
	}
}
