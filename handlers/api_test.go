package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestAPIMeAndCommunityReads(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Api User")
	slug := b.createCommunity("Api Club")
	tok := app.token("api.user@example.org")

	var me struct {
		Email       string                  `json:"email"`
		Communities []struct{ Slug string } `json:"communities"`
	}
	if status := app.api("GET", "/api/v1/me", tok, nil, &me); status != http.StatusOK || me.Email != "api.user@example.org" || len(me.Communities) != 1 || me.Communities[0].Slug != slug {
		t.Fatalf("/me: %d %+v", status, me)
	}
	var members struct {
		Members []struct {
			Name  string   `json:"name"`
			Roles []string `json:"roles"`
		} `json:"members"`
	}
	if status := app.api("GET", "/api/v1/communities/"+slug+"/members", tok, nil, &members); status != http.StatusOK || len(members.Members) != 1 || members.Members[0].Name != "Api User" {
		t.Fatalf("members: %d %+v", status, members)
	}
	var docs struct{ Documents []any }
	if status := app.api("GET", "/api/v1/communities/"+slug+"/documents", tok, nil, &docs); status != http.StatusOK {
		t.Fatalf("documents: %d", status)
	}

	tests := []struct{ name, token string }{
		{"no token", ""},
		{"bad token", "pk_not_a_real_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiErr
			if status := app.api("GET", "/api/v1/me", tt.token, nil, &e); status != http.StatusUnauthorized || e.Error.Code != "unauthorized" || e.Error.Message == "" {
				t.Fatalf("status %d, error %+v", status, e)
			}
		})
	}
}

// TestTenantIsolation: a member of A asking for B's pages, API routes or ids gets 404 —
// the same answer as for something that does not exist.
func TestTenantIsolation(t *testing.T) {
	app := newTestApp(t)
	alice := app.browser()
	alice.signup("Alice")
	a := alice.createCommunity("Community A")
	bob := app.browser()
	bob.signup("Bob")
	bSlug := bob.createCommunity("Community B")
	bob.propose(bSlug, "constitution.add_document", map[string][]string{"title": {"Secret plans"}, "body": {"B only"}})
	bDocID := fmt.Sprint(app.documentID(bSlug, "Secret plans"))

	pages := []string{
		"/c/" + bSlug,
		"/c/" + bSlug + "/members",
		"/c/" + bSlug + "/documents",
		"/c/" + bSlug + "/documents/" + bDocID,
		"/c/" + a + "/documents/" + bDocID, // B's id through A's address
		"/c/does-not-exist/members",
	}
	for _, p := range pages {
		if status, doc := alice.get(p); status != http.StatusNotFound || strings.Contains(doc.Text(), "Secret plans") {
			t.Errorf("GET %s as a non-member: %d", p, status)
		}
	}
	before := app.count("document_versions")
	alice.get("/c/" + a)
	for _, p := range []string{"/c/" + bSlug + "/propose/constitution.add_document", "/c/" + bSlug + "/invites"} {
		if resp, _ := alice.post(p, map[string][]string{"title": {"Hijack"}, "body": {"x"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s as a non-member: %d", p, resp.StatusCode)
		}
	}
	if app.count("document_versions") != before {
		t.Error("a non-member wrote a document version")
	}
	tok := app.token("alice@example.org")
	for _, p := range []string{"/api/v1/communities/" + bSlug + "/members", "/api/v1/communities/" + bSlug + "/documents"} {
		var e apiErr
		if status := app.api("GET", p, tok, nil, &e); status != http.StatusNotFound || e.Error.Code != "not_found" {
			t.Errorf("API %s as a non-member: %d %+v", p, status, e)
		}
	}
}
