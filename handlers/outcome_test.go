package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// TestNotCarriedOutShownEverywhere: a role proposed while its name was free, whose name was
// taken during the vote, is approved but not carried out; the proposal page, the list, its
// filter, the dashboard's recent decisions and the API all say so with the reason; once the
// name is free again the page offers a retry, which carries it out.
func TestNotCarriedOutShownEverywhere(t *testing.T) {
	app := newTestApp(t, enginetest.NewPlatform())
	ada := app.browser()
	ada.signup("Ada")
	slug := ada.createCommunityWithKit("Outcomes", engine.KitDemocracy)
	ctx := context.Background()
	comm, err := app.store.CommunityBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	var others []int64
	for _, name := range []string{"Bob", "Cy"} {
		m, err := app.store.AddMember(ctx, comm.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, m.ID)
	}
	page := ada.propose(slug, engine.TypeAddRole, url.Values{"name": {"Scribe"}})
	var id int64
	if _, err := fmt.Sscanf(page, "/c/"+slug+"/proposals/%d", &id); err != nil {
		t.Fatalf("proposal page %q: %v", page, err)
	}
	squatter := &models.Role{CommunityID: comm.ID, Name: "Scribe"}
	if err := app.store.CreateRole(ctx, squatter, nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range others {
		if _, err := app.engine.CastVote(ctx, comm.ID, id, m, "yes", "web"); err != nil {
			t.Fatal(err)
		}
	}
	const reason = "a role named “Scribe” already exists"

	_, doc := ada.get(page)
	if got := doc.Find("#tally-h").Text(); !strings.Contains(got, "not carried out") {
		t.Errorf("status = %q", got)
	}
	if got := doc.Find("#not-carried-out").Text(); !strings.Contains(got, "Approved, but could not be carried out: "+reason) {
		t.Errorf("the page says %q", got)
	}
	if doc.Find("#not-carried-out form").Length() != 0 {
		t.Error("retry offered while the name is still taken")
	}
	for _, path := range []string{"/c/" + slug + "/proposals", "/c/" + slug + "/proposals?status=not_carried_out", "/c/" + slug} {
		_, doc := ada.get(path)
		if got := doc.Find("main table").Text(); !strings.Contains(got, "not carried out") || !strings.Contains(got, "approved, but could not be carried out: "+reason) {
			t.Errorf("%s lists %q", path, got)
		}
	}
	if _, doc := ada.get("/c/" + slug + "/proposals?status=passed"); strings.Contains(doc.Find("main").Text(), "Scribe") {
		t.Error("listed as passed")
	}
	token := app.token("ada@example.org")
	var got struct {
		Status, Reason string
	}
	if code := app.api(http.MethodGet, fmt.Sprintf("/api/v1/communities/%s/proposals/%d", slug, id), token, nil, &got); code != http.StatusOK ||
		got.Status != models.StatusNotCarriedOut || got.Reason != reason {
		t.Errorf("API: %d %+v", code, got)
	}
	var list struct {
		Proposals []struct{ ID int64 } `json:"proposals"`
	}
	app.api(http.MethodGet, "/api/v1/communities/"+slug+"/proposals?status=not_carried_out", token, nil, &list)
	if len(list.Proposals) != 1 || list.Proposals[0].ID != id {
		t.Errorf("API filter: %+v", list)
	}

	// The name is free again: retrying can help now, and does.
	squatter.Name = "Old scribe"
	if err := app.store.UpdateRole(ctx, squatter, nil); err != nil {
		t.Fatal(err)
	}
	_, doc = ada.get(page)
	if doc.Find("#not-carried-out form button").Length() != 1 {
		t.Fatal("no retry offered once the name is free")
	}
	if resp, _ := ada.post(page+"/retry", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	_, doc = ada.get(page)
	if got := doc.Find("#tally-h").Text(); !strings.Contains(got, "passed") || doc.Find("#not-carried-out").Length() != 0 {
		t.Errorf("after retry the page says %q", got)
	}
	if _, err := app.store.RoleByName(ctx, comm.ID, "Scribe"); err != nil {
		t.Errorf("the role was not added: %v", err)
	}
	if resp, _ := ada.post(page+"/retry", url.Values{"csrf_token": {""}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a retry without CSRF token: %d", resp.StatusCode)
	}
}

// TestPlatformActionsNeedTheirPlatform: on a community without the platform, its actions
// are not offered to propose, the form says why, and the API refuses them with a field error.
func TestPlatformActionsNeedTheirPlatform(t *testing.T) {
	app := newTestApp(t, enginetest.NewPlatform())
	ada := app.browser()
	ada.signup("Ada")
	slug := ada.createCommunity("Web only")
	_, doc := ada.get("/c/" + slug + "/propose")
	if doc.Find(`a[href$="/propose/test.rename_channel"]`).Length() != 0 {
		t.Error("a platform action is offered on a community without the platform")
	}
	if got := doc.Find("#not-connected").Text(); !strings.Contains(got, "Test") || !strings.Contains(got, "once it is connected") {
		t.Errorf("the index says %q", got)
	}
	_, doc = ada.get("/c/" + slug + "/propose/test.rename_channel")
	if got := doc.Find("#form-error").Text(); !strings.Contains(got, "Test is not connected to this community") {
		t.Errorf("the form says %q", got)
	}
	_, doc = ada.get("/c/" + slug + "/builder")
	if got := doc.Find(`label[for="f-when-action-types-test-rename-channel"]`).Text(); !strings.Contains(got, "when Test is connected") {
		t.Errorf("the builder offers %q", got)
	}
	before := app.count("actions")
	var e apiErr
	body := strings.NewReader(`{"type":"test.rename_channel","params":{"channel":"C1","name":"town-square"}}`)
	code := app.api(http.MethodPost, "/api/v1/communities/"+slug+"/actions", app.token("ada@example.org"), body, &e)
	if code != http.StatusUnprocessableEntity || e.Error.Code != "invalid" || !strings.Contains(e.Error.Fields["type"], "not connected") {
		t.Errorf("API: %d %+v", code, e)
	}
	if app.count("actions") != before {
		t.Error("the refused action was written")
	}
}
