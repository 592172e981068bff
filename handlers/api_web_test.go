package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"policykit/engine"
	"policykit/handlers"
)

// apiSpec is the served OpenAPI document, loaded and validated.
func apiSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(handlers.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// call makes an API request, checks the answer against the OpenAPI document (the operation
// of template, the response of its status), and decodes it into out.
func (a *testApp) call(spec *openapi3.T, method, template, path, token string, body any, out any) int {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, a.srv.URL+"/api/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	item := spec.Paths.Value(template)
	if item == nil || item.GetOperation(method) == nil {
		a.t.Fatalf("%s %s is not in openapi.json", method, template)
	}
	r := item.GetOperation(method).Responses.Status(resp.StatusCode)
	if r == nil {
		a.t.Errorf("%s %s answered %d, which openapi.json does not list: %s", method, path, resp.StatusCode, raw)
	} else {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			a.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
		schema := r.Value.Content.Get("application/json").Schema.Value
		if err := schema.VisitJSON(v); err != nil {
			a.t.Errorf("%s %s (%d) does not match its schema: %v\n%s", method, path, resp.StatusCode, err, raw)
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("decode %s: %v", raw, err)
		}
	}
	return resp.StatusCode
}

// TestOpenAPIMatchesRouter: every API route is in the document and every documented
// operation is a route.
func TestOpenAPIMatchesRouter(t *testing.T) {
	app := newTestApp(t)
	spec := apiSpec(t)
	param := regexp.MustCompile(`:([a-z_]+)`)
	routes := map[string]bool{}
	for _, r := range app.routes {
		if p, ok := strings.CutPrefix(r.Path, "/api/v1"); ok {
			routes[r.Method+" "+param.ReplaceAllString(p, "{$1}")] = true
		}
	}
	documented := map[string]bool{}
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, pair := range []struct {
		have, want map[string]bool
		msg        string
	}{{routes, documented, "route missing from openapi.json"}, {documented, routes, "documented operation the server lacks"}} {
		var missing []string
		for k := range pair.have {
			if !pair.want[k] {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		for _, k := range missing {
			t.Errorf("%s: %s", pair.msg, k)
		}
	}
	var served map[string]any
	if status := app.api("GET", "/api/v1/openapi.json", "", nil, &served); status != http.StatusOK || served["openapi"] != "3.0.3" {
		t.Fatalf("the document is not served without a token: %d", status)
	}
}

// TestAPIJourney drives every API route with real data and checks each answer against the
// OpenAPI document.
func TestAPIJourney(t *testing.T) {
	app := newTestApp(t)
	spec := apiSpec(t)
	app.browser().signup("Api Ada")
	app.browser().signup("Api Bob")
	ada, bob := app.token("api.ada@example.org"), app.token("api.bob@example.org")

	var created struct {
		Community struct{ Slug string }
	}
	if s := app.call(spec, "POST", "/communities", "/communities", ada, map[string]any{"name": "Api Town", "starter_kit": engine.KitDemocracy}, &created); s != http.StatusCreated {
		t.Fatalf("create community: %d", s)
	}
	slug := created.Community.Slug
	base := "/communities/" + slug
	var inv struct{ Code string }
	if s := app.call(spec, "POST", "/communities/{slug}/invites", base+"/invites", ada, nil, &inv); s != http.StatusCreated || inv.Code == "" {
		t.Fatalf("invite: %d", s)
	}
	if s := app.call(spec, "POST", "/invites/{code}/accept", "/invites/"+inv.Code+"/accept", bob, nil, nil); s != http.StatusOK {
		t.Fatalf("accept: %d", s)
	}
	var proposed struct {
		Action   struct{ ID int64 }
		Proposal struct {
			ID     int64
			Status string
			Rule   string
			Tally  struct{ Eligible int }
		}
	}
	s := app.call(spec, "POST", "/communities/{slug}/actions", base+"/actions", ada,
		map[string]any{"type": engine.TypeAddDocument, "params": map[string]any{"title": "Charter", "body": "We decide together."}}, &proposed)
	if s != http.StatusCreated || proposed.Proposal.Status != "pending" || proposed.Proposal.Tally.Eligible != 2 || proposed.Proposal.Rule == "" {
		t.Fatalf("propose: %d %+v", s, proposed)
	}
	pid := fmt.Sprint(proposed.Proposal.ID)
	var list struct {
		Proposals []struct{ ID int64 }
	}
	if s := app.call(spec, "GET", "/communities/{slug}/proposals", base+"/proposals?status=pending", bob, nil, &list); s != http.StatusOK || len(list.Proposals) != 1 {
		t.Fatalf("list pending: %d %+v", s, list)
	}
	if s := app.call(spec, "GET", "/communities/{slug}/proposals", base+"/proposals?status=passed", bob, nil, &list); s != http.StatusOK || len(list.Proposals) != 0 {
		t.Fatalf("list passed: %d %+v", s, list)
	}
	app.call(spec, "GET", "/communities/{slug}/proposals/{id}", base+"/proposals/"+pid, bob, nil, nil)
	var voted struct {
		Proposal struct {
			Status string
			MyVote any `json:"my_vote"`
		}
		Changed bool
	}
	app.call(spec, "POST", "/communities/{slug}/proposals/{id}/votes", base+"/proposals/"+pid+"/votes", ada, map[string]any{"value": "yes"}, &voted)
	if voted.Proposal.Status != "pending" || voted.Proposal.MyVote != "yes" {
		t.Fatalf("one of two yes: %+v", voted)
	}
	app.call(spec, "POST", "/communities/{slug}/proposals/{id}/votes", base+"/proposals/"+pid+"/votes", bob, map[string]any{"value": "yes"}, &voted)
	if voted.Proposal.Status != "passed" {
		t.Fatalf("two of two yes: %+v", voted)
	}
	var docs struct {
		Documents []struct{ Title string }
	}
	app.call(spec, "GET", "/communities/{slug}/documents", base+"/documents", bob, nil, &docs)
	if len(docs.Documents) != 1 || docs.Documents[0].Title != "Charter" {
		t.Fatalf("documents: %+v", docs)
	}
	for _, p := range []string{"/policies", "/roles", "/members", "/audit", "/audit?proposal=" + pid + "&limit=5"} {
		tmpl := "/communities/{slug}" + strings.SplitN(p, "?", 2)[0]
		if s := app.call(spec, "GET", tmpl, base+p, bob, nil, nil); s != http.StatusOK {
			t.Errorf("GET %s: %d", p, s)
		}
	}
	app.call(spec, "GET", "/me", "/me", bob, nil, nil)
	app.call(spec, "GET", "/action_types", "/action_types", bob, nil, nil)

	app.call(spec, "POST", "/communities/{slug}/actions", base+"/actions", ada,
		map[string]any{"type": engine.TypeAddDocument, "params": map[string]any{"title": "Second", "body": "Open."}}, &proposed)
	open := fmt.Sprint(proposed.Proposal.ID)

	// Bad input: a clear error with a stable code, and nothing written.
	before := [3]int64{app.count("actions"), app.count("votes"), app.count("audit_events")}
	tests := []struct {
		name, method, tmpl, path string
		body                     any
		status                   int
		code, field              string
	}{
		{"malformed JSON", "POST", "/communities/{slug}/actions", base + "/actions", `{"type": `, 400, "bad_request", ""},
		{"unknown field", "POST", "/communities/{slug}/actions", base + "/actions", `{"type": "constitution.add_document", "parms": {}}`, 400, "bad_request", ""},
		{"trailing data", "POST", "/communities/{slug}/actions", base + "/actions", `{"type": "x"} {}`, 400, "bad_request", ""},
		{"unknown action type", "POST", "/communities/{slug}/actions", base + "/actions", map[string]any{"type": "rockets.launch"}, 422, "invalid", "type"},
		{"missing parameter", "POST", "/communities/{slug}/actions", base + "/actions", map[string]any{"type": engine.TypeAddDocument, "params": map[string]any{"title": "No body"}}, 422, "invalid", "body"},
		{"unknown parameter", "POST", "/communities/{slug}/actions", base + "/actions", map[string]any{"type": engine.TypeAddDocument, "params": map[string]any{"title": "T", "body": "b", "color": "red"}}, 422, "invalid", "color"},
		{"wrong parameter type", "POST", "/communities/{slug}/actions", base + "/actions", map[string]any{"type": engine.TypeReorderPolicy, "params": map[string]any{"policy": "one", "priority": 1}}, 422, "invalid", "policy"},
		{"broken policy code", "POST", "/communities/{slug}/actions", base + "/actions", map[string]any{"type": engine.TypeAddPolicy, "params": map[string]any{"kind": "platform", "name": "B", "check": "PASSED +"}}, 422, "invalid", "check"},
		{"oversized body", "POST", "/communities/{slug}/actions", base + "/actions", `{"type": "` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large", ""},
		{"vote after the decision", "POST", "/communities/{slug}/proposals/{id}/votes", base + "/proposals/" + pid + "/votes", map[string]any{"value": "no"}, 409, "conflict", ""},
		{"bad vote value", "POST", "/communities/{slug}/proposals/{id}/votes", base + "/proposals/" + open + "/votes", map[string]any{"value": 7}, 422, "invalid", "value"},
		{"vote without value", "POST", "/communities/{slug}/proposals/{id}/votes", base + "/proposals/" + open + "/votes", `{}`, 422, "invalid", "value"},
		{"bad status filter", "GET", "/communities/{slug}/proposals", base + "/proposals?status=maybe", nil, 400, "bad_request", ""},
		{"unknown starter kit", "POST", "/communities", "/communities", map[string]any{"name": "K", "starter_kit": "anarchy"}, 422, "invalid", "starter_kit"},
		{"unknown proposal", "GET", "/communities/{slug}/proposals/{id}", base + "/proposals/999999", nil, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiErr
			if s := app.call(spec, tt.method, tt.tmpl, tt.path, bob, tt.body, &e); s != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
				t.Fatalf("status %d, error %+v; want %d %s", s, e.Error, tt.status, tt.code)
			}
			if tt.field != "" && e.Error.Fields[tt.field] == "" {
				t.Errorf("no message for field %s: %+v", tt.field, e.Error.Fields)
			}
		})
	}
	if after := [3]int64{app.count("actions"), app.count("votes"), app.count("audit_events")}; after != before {
		t.Fatalf("bad input wrote rows: %v → %v", before, after)
	}
}
