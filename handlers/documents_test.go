package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"policykit/engine"
	"policykit/models"
	"policykit/models/modelstest"
)

// pathologicalMarkdown is the probe's document: 160 KB of unclosed links, on which
// goldmark is quadratic (12–24 s of CPU on every view of /documents before).
var pathologicalMarkdown = strings.Repeat("[a](", 40000)

// TestOverlyComplexDocumentIsRefusedWhenProposed: proposing the probe's document answers
// quickly with an error on the text (form and API) and records nothing; a real document
// is shown from the HTML stored with its version.
func TestOverlyComplexDocumentIsRefusedWhenProposed(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Ada Lovelace")
	slug := b.createCommunity("Analytical Club")
	actions := app.count("actions")

	b.get("/c/" + slug + "/propose/" + engine.TypeAddDocument)
	start := time.Now()
	resp, doc := b.post("/c/"+slug+"/propose/"+engine.TypeAddDocument, url.Values{"title": {"Links"}, "body": {pathologicalMarkdown}})
	took := time.Since(start)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("#e-body").Text(), "too complex") {
		t.Fatalf("proposing the document: status %d, body error %q; want 422 saying it is too complex", resp.StatusCode, doc.Find("#e-body").Text())
	}
	if took > 5*time.Second {
		t.Errorf("refusing took %v", took)
	}
	var apiErr apiErr
	body := fmt.Sprintf(`{"type":%q,"params":{"title":"Links","body":%q}}`, engine.TypeAddDocument, pathologicalMarkdown)
	if status := app.api(http.MethodPost, "/api/v1/communities/"+slug+"/actions", app.token("ada.lovelace@example.org"), strings.NewReader(body), &apiErr); status != http.StatusUnprocessableEntity || apiErr.Error.Fields["body"] == "" {
		t.Fatalf("API: status %d %+v", status, apiErr)
	}
	if n := app.count("actions"); n != actions {
		t.Fatalf("refused proposals recorded %d actions", n-actions)
	}

	b.propose(slug, engine.TypeAddDocument, url.Values{"title": {"Charter"}, "body": {"We decide **together**.\n\n<script>alert(1)</script>"}})
	_, page := b.get("/c/" + slug + "/documents")
	html, _ := page.Find(".markdown").Html()
	if !strings.Contains(html, "<strong>together</strong>") || strings.Contains(html, "<script") {
		t.Fatalf("documents page shows %.300q", html)
	}
	var stored string
	if err := app.store.DB().Table("document_versions").Select("html").Where("title = ?", "Charter").Scan(&stored).Error; err != nil || !strings.Contains(stored, "<strong>together</strong>") {
		t.Fatalf("the version's stored HTML is %.300q (%v)", stored, err)
	}
}

// TestBackfilledDocumentHTML: versions stored before versions kept their HTML are
// rendered by the migration; one too complex to render is kept as its escaped text.
func TestBackfilledDocumentHTML(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Ada Lovelace")
	slug := b.createCommunity("Analytical Club")
	seedOldDocuments(t, app.store, slug, map[string]string{"Old charter": "Written *before*.", "Old links": pathologicalMarkdown})
	start := time.Now()
	status, page := b.get("/c/" + slug + "/documents")
	if took := time.Since(start); status != http.StatusOK || took > 2*time.Second {
		t.Fatalf("documents page: %d in %v", status, took)
	}
	if html, _ := page.Find(".markdown").First().Html(); !strings.Contains(html, "<em>before</em>") { // by title: Old charter, Old links
		t.Errorf("the backfilled document shows %.200q", html)
	}
	if !strings.Contains(page.Find("pre.markdown-source").Text(), "[a]([a](") {
		t.Error("the unrenderable document is not shown as its text")
	}
}

// seedOldDocuments takes the database back to before document versions kept their HTML
// (the migration *_document_html undone), writes documents as versions were stored then,
// and migrates again, which renders them.
func seedOldDocuments(tb testing.TB, store *models.Store, slug string, docs map[string]string) {
	tb.Helper()
	ctx := context.Background()
	c, err := store.CommunityBySlug(ctx, slug)
	if err != nil {
		tb.Fatal(err)
	}
	db := store.DB()
	for _, sql := range []string{"DELETE FROM schema_migrations WHERE id LIKE '%_document_html'", "ALTER TABLE document_versions DROP COLUMN html"} {
		if err := db.Exec(sql).Error; err != nil {
			tb.Fatal(err)
		}
	}
	for title, body := range docs {
		d := models.Document{CommunityID: c.ID, Title: title, CurrentVersion: 1}
		if err := db.Create(&d).Error; err != nil {
			tb.Fatal(err)
		}
		if err := db.Exec("INSERT INTO document_versions (document_id, version, title, body, created_at) VALUES (?, 1, ?, ?, ?)",
			d.ID, title, body, time.Now().UTC()).Error; err != nil {
			tb.Fatal(err)
		}
	}
	applied, err := store.Migrate(ctx)
	if err != nil || len(applied) != 1 {
		tb.Fatalf("migrate again: %v %v", applied, err)
	}
}

// BenchmarkDocumentsPage serves /c/<slug>/documents for a community with ten large
// documents (about 100 KB of markdown each) and the probe's document, stored as the
// migration backfills it. The page must stay under 50 ms: it reads stored HTML and renders
// no markdown.
func BenchmarkDocumentsPage(b *testing.B) {
	ctx := context.Background()
	store := modelstest.Open(b)
	r, eng := newRouter(b, store, "http://example.org", ioDiscard{})
	acct := modelstest.Account(b, store, "Ada Lovelace")
	c, _, err := eng.CreateCommunity(ctx, models.NewCommunity{Name: "Analytical Club"}, acct, engine.KitEverythingPasses)
	if err != nil {
		b.Fatal(err)
	}
	var section strings.Builder
	for i := range 100 {
		fmt.Fprintf(&section, "## Rule %d\n\nMembers **must** read [the guide](https://example.org/%d) and _vote_ on `proposals`.\n\n- one\n- two\n  - nested\n\n> A quote.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n", i, i)
	}
	big := strings.Repeat(section.String(), 100_000/section.Len()+1)[:100_000]
	for i := range 10 {
		if _, err := store.CreateDocument(ctx, c.ID, fmt.Sprintf("Document %d", i), big, nil); err != nil {
			b.Fatal(err)
		}
	}
	seedOldDocuments(b, store, c.Slug, map[string]string{"Links": pathologicalMarkdown})
	token, err := store.CreateSession(ctx, acct.ID)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/c/"+c.Slug+"/documents", nil)
	req.AddCookie(&http.Cookie{Name: "pk_session", Value: token})
	cpu0 := processCPU(b)
	for b.Loop() {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	// On a shared machine the wall time includes waiting for a core; CPU time does not.
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
}

// processCPU is the CPU time (user and system) this process has used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }
