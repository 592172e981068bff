package browsertest

import (
	"context"
	"fmt"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// cspViolation is what the page reports of a securitypolicyviolation event.
type cspViolation struct {
	Page      string `json:"page"`
	Directive string `json:"directive"`
	Blocked   string `json:"blocked"`
	Source    string `json:"source"`
	Line      int    `json:"line"`
	Sample    string `json:"sample"`
}

func (v cspViolation) String() string {
	return fmt.Sprintf("%s: %s blocked %q (%s:%d %q)", v.Page, v.Directive, v.Blocked, v.Source, v.Line, v.Sample)
}

// cspListenerJS reports every Content-Security-Policy violation of a document to Go. It
// is added by the DevTools protocol, which the page's policy does not govern.
const cspListenerJS = `document.addEventListener('securitypolicyviolation', e => {
  window.__browsertestCSP({page: location.pathname + location.search, directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample});
}, true);`

// WatchCSP records every Content-Security-Policy violation that Chromium reports in p's
// tab (the securitypolicyviolation event), on the page open now and every page after it;
// CSPViolations returns them. Call it before opening the pages to check.
func (p *Profile) WatchCSP() {
	p.s.t.Helper()
	p.run("watch the Content-Security-Policy", func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.ExposeFunc("__browsertestCSP", func(_ context.Context, v cspViolation) (chromedp.Void, error) {
				p.mu.Lock()
				p.violations = append(p.violations, v.String())
				p.mu.Unlock()
				return chromedp.Void{}, nil
			}),
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListenerJS})
				return err
			}),
		)
	})
}

// CSPViolations returns the violations recorded since WatchCSP.
func (p *Profile) CSPViolations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.violations...)
}

// ConsoleErrors returns the errors the page logged or threw in p's tab so far (console
// errors, uncaught exceptions, failed loads and the browser's own error entries, which
// include the CSP's refusals).
func (p *Profile) ConsoleErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}
