package browsertest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Session is one test's use of the browser: the site under test and the profiles (people)
// visiting it. When the test fails, it saves a screenshot of every profile's page. A
// session and its profiles report to the test that made them, so a subtest that drives a
// browser makes its own session (calling t.Fatal for a parent from a subtest is an error).
// Sessions of parallel tests may run at once.
type Session struct {
	t       testing.TB
	baseURL string
	root    context.Context // the shared browser

	steps atomic.Int64 // numbers the steps of all profiles in the order they ran

	mu       sync.Mutex
	profiles []*Profile
}

// New opens a session on the site at baseURL (an httptest server's URL). It skips the test
// when Chromium is not installed, or fails it under CI=true.
func New(t testing.TB, baseURL string) *Session {
	t.Helper()
	if !shared.mainCalled.Load() {
		t.Fatal("browsertest: call browsertest.Main from this package's TestMain, so the shared Chromium stops after the tests")
	}
	root, err := shared.get()
	switch {
	case errors.Is(err, errNoChromium) && inCI():
		t.Fatalf("browsertest: CI=true but %v", err)
	case errors.Is(err, errNoChromium):
		t.Skipf("browsertest: %v; install it (apt-get install chromium) to run the browser tests", err)
	case err != nil:
		t.Fatalf("browsertest: %v", err)
	}
	s := &Session{t: t, baseURL: strings.TrimSuffix(baseURL, "/"), root: root}
	// One cleanup for all profiles: the screenshots must be taken before any tab closes, and
	// t.Cleanup runs in reverse order, so per-profile cleanups would close tabs first.
	t.Cleanup(s.close)
	return s
}

// Profile opens a new person's browser: a tab in a fresh browser context, so it shares no
// cookies or storage with the other profiles. name labels its steps and screenshots.
func (s *Session) Profile(name string) *Profile {
	s.t.Helper()
	ctx, cancel := chromedp.NewContext(s.root, chromedp.WithNewBrowserContext())
	p := &Profile{s: s, name: name, ctx: ctx, cancel: cancel}
	s.mu.Lock()
	s.profiles = append(s.profiles, p)
	s.mu.Unlock()
	// The first Do creates the tab and ties it to ctx for good, so it cannot run under a
	// deadline; a watchdog cancels the tab instead if the browser does not answer.
	if err := withWatchdog(StepTimeout, cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		s.t.Fatalf("browsertest: open a tab for %s: %v", name, err)
	}
	// Listen runs in the tab's event loop, in order, so Loads is exact when a step returns.
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*page.EventFrameNavigated); ok && ev.Frame.ParentID == "" {
			p.loads.Add(1)
		}
	}); err != nil {
		s.t.Fatalf("browsertest: listen to %s's tab: %v", name, err)
	}
	// Subscribe now, before any page loads, so no message is missed.
	go p.collectConsole(chromedp.Console(ctx))
	return p
}

// close saves the artifacts of a failed test, then closes every profile's tab.
func (s *Session) close() {
	s.mu.Lock()
	profiles := s.profiles
	s.mu.Unlock()
	if s.t.Failed() {
		s.saveArtifacts(profiles)
	}
	for _, p := range profiles {
		p.cancel()
	}
}

// saveArtifacts writes a screenshot and the HTML of every profile's page, named by the
// profile's last step, under test-artifacts/<TestName>/, and logs where they are.
func (s *Session) saveArtifacts(profiles []*Profile) {
	dir, err := artifactDir(s.t.Name())
	if err != nil {
		s.t.Logf("browsertest: no screenshots: %v", err)
		return
	}
	// Replace the artifacts of an earlier failure, so the folder shows only this run.
	if err := os.RemoveAll(dir); err != nil {
		s.t.Logf("browsertest: no screenshots: %v", err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Logf("browsertest: no screenshots: %v", err)
		return
	}
	for _, p := range profiles {
		n, step := p.lastStep()
		base := filepath.Join(dir, fmt.Sprintf("%02d-%s-%s", n, slug(p.name), slug(step)))
		if err := p.save(base); err != nil {
			s.t.Logf("browsertest: screenshot of %s: %v", p.name, err)
			continue
		}
		s.t.Logf("browsertest: %s after step %d (%s) at %s: %s.png", p.name, n, step, p.url(), base)
		for _, line := range p.consoleLines() {
			s.t.Logf("browsertest: %s console: %s", p.name, line)
		}
	}
}

// artifactDir is test-artifacts/<TestName> at the root of the module (found by go.mod), so
// every package's browser tests put their screenshots in one git-ignored folder.
func artifactDir(testName string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the module root: no go.mod above the working directory")
		}
		dir = parent
	}
	parts := strings.Split(testName, "/") // subtests become sub-folders
	for i, part := range parts {
		parts[i] = slug(part)
	}
	return filepath.Join(append([]string{dir, "test-artifacts"}, parts...)...), nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// slug makes a step or test name safe and readable as a file name.
func slug(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(s, "-"), "-.")
	if len(s) > 60 {
		s = s[:60]
	}
	if s == "" {
		return "start"
	}
	return s
}

// stepContext bounds one step, so a stuck page fails the test after StepTimeout.
func (p *Profile) stepContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, StepTimeout)
}

// save writes base.png and base.html of the profile's current page.
func (p *Profile) save(base string) error {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := os.WriteFile(base+".png", png, 0o644); err != nil {
		return fmt.Errorf("write screenshot: %w", err)
	}
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		return fmt.Errorf("read the HTML: %w", err)
	}
	if err := os.WriteFile(base+".html", []byte(html), 0o644); err != nil {
		return fmt.Errorf("write the HTML: %w", err)
	}
	return nil
}

// collectConsole keeps the page's console messages and uncaught errors (including failed
// requests, such as a missing static/dist bundle) to print when the test fails.
func (p *Profile) collectConsole(messages iter.Seq2[chromedp.ConsoleMessage, error]) {
	for m, err := range messages {
		if err != nil {
			return
		}
		line := m.String()
		if m.URL != "" {
			line += " (" + m.URL + ")"
		}
		p.mu.Lock()
		if len(p.console) < 50 {
			p.console = append(p.console, line)
		}
		if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && len(p.errors) < 200 {
			p.errors = append(p.errors, line)
		}
		p.mu.Unlock()
	}
}

func (p *Profile) consoleLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}
