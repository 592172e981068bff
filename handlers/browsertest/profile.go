package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"
)

// Profile is one person's browser tab. Its helpers wait (up to StepTimeout) for what they
// need to appear, and fail the test when it does not. Like a person at one tab, a Profile is
// used from one goroutine at a time.
type Profile struct {
	s      *Session
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	loads  atomic.Int64 // documents loaded in the tab, see Loads

	mu         sync.Mutex
	stepN      int64  // the session-wide number of this profile's last step
	step       string // and its description, which names the screenshot
	console    []string
	errors     []string // console errors and exceptions (ConsoleErrors)
	violations []string // Content-Security-Policy violations, once WatchCSP is on
}

// Open loads a page, a path on the site (such as "/signup") or a full URL, and waits until
// it has loaded.
func (p *Profile) Open(pathOrURL string) {
	p.s.t.Helper()
	url := pathOrURL
	if !strings.Contains(pathOrURL, "://") {
		url = p.s.baseURL + pathOrURL
	}
	p.run("open "+pathOrURL, func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Navigate(url))
	})
}

// Fill types value into the form control labelled label (a <label>'s text, or an
// aria-label), replacing what it held.
func (p *Profile) Fill(label, value string) {
	p.s.t.Helper()
	field := chromedp.JSPath(fieldJS(label))
	p.run("fill "+label, func(ctx context.Context) error {
		// Clear with a plain assignment: chromedp v0.23.0's SetJavascriptAttribute sends an
		// empty string as undefined, which an input turns into the text "undefined".
		err := chromedp.Do(ctx,
			chromedp.Query(field, chromedp.NodeVisible),
			chromedp.Evaluate[chromedp.Void](`(`+fieldJS(label)+`).value = ''`),
			chromedp.SendKeys(field, value),
		)
		return p.explain(err, "no field labelled %q; the labels are %s", label, labelsJS)
	})
}

// Focus puts the keyboard focus on the form control labelled label.
func (p *Profile) Focus(label string) {
	p.s.t.Helper()
	p.run("focus "+label, func(ctx context.Context) error {
		err := chromedp.Do(ctx, chromedp.Focus(chromedp.JSPath(fieldJS(label))))
		return p.explain(err, "no field labelled %q; the labels are %s", label, labelsJS)
	})
}

// Type presses keys on the focused element, as a keyboard does: "\t" is Tab and "\r" or
// "\n" is Enter. If a key submits a form, Type waits for the next page.
func (p *Profile) Type(keys string) {
	p.s.t.Helper()
	p.run(fmt.Sprintf("type %q", keys), func(ctx context.Context) error {
		return p.act(ctx, chromedp.KeyEvent(keys))
	})
}

// ClickButton clicks the button whose text (or value, or aria-label) is text: a <button>,
// a submit input, or else an element with role="button", such as a link styled as one. If
// the click leaves the page (a form post, a link), it waits for the next page to load; if
// it starts an htmx request, it waits until the answer is swapped in.
func (p *Profile) ClickButton(text string) {
	p.s.t.Helper()
	p.run("click "+text, func(ctx context.Context) error {
		err := p.act(ctx, chromedp.Click(chromedp.JSPath(buttonJS(text))))
		return p.explain(err, "no visible button %q; the buttons are %s", text, buttonsJS)
	})
}

// ClickLink clicks the link whose text (or aria-label) is text and waits for the next page.
func (p *Profile) ClickLink(text string) {
	p.s.t.Helper()
	p.run("click link "+text, func(ctx context.Context) error {
		err := p.act(ctx, chromedp.Click(chromedp.JSPath(linkJS(text))))
		return p.explain(err, "no visible link %q; the links are %s", text, linksJS)
	})
}

// Click clicks the first element that matches a CSS selector, and waits for the next page
// if the click leaves this one.
func (p *Profile) Click(selector string) {
	p.s.t.Helper()
	p.run("click "+selector, func(ctx context.Context) error {
		return p.act(ctx, chromedp.Click(chromedp.CSS(selector)))
	})
}

// WaitText waits until the first element matching a CSS selector contains text, such as a
// fragment htmx swaps in.
func (p *Profile) WaitText(selector, text string) {
	p.s.t.Helper()
	p.run(fmt.Sprintf("wait for %q in %s", text, selector), func(ctx context.Context) error {
		_, err := poll(ctx, textsJS(selector), func(got []string) bool {
			return len(got) > 0 && strings.Contains(got[0], text)
		})
		return err
	})
}

// Text returns the visible text of the first element matching a CSS selector, waiting for
// the element to exist.
func (p *Profile) Text(selector string) string {
	p.s.t.Helper()
	got := p.texts(selector)
	return got[0]
}

// Texts returns the visible text of every element matching a CSS selector, waiting for at
// least one to exist.
func (p *Profile) Texts(selector string) []string {
	p.s.t.Helper()
	return p.texts(selector)
}

func (p *Profile) texts(selector string) []string {
	p.s.t.Helper()
	var got []string
	p.run("read "+selector, func(ctx context.Context) error {
		var err error
		got, err = poll(ctx, textsJS(selector), func(got []string) bool { return len(got) > 0 })
		return err
	})
	return got
}

// Value returns the current value of the form control labelled label (a <label>'s text or
// an aria-label).
func (p *Profile) Value(label string) string {
	p.s.t.Helper()
	var v string
	p.run("read "+label, func(ctx context.Context) error {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Value(chromedp.JSPath(fieldJS(label))))
		return p.explain(err, "no field labelled %q; the labels are %s", label, labelsJS)
	})
	return v
}

// FocusedLabel returns the label of the element that has the keyboard focus ("" if none),
// to check that Tab moves through a form in order.
func (p *Profile) FocusedLabel() string {
	p.s.t.Helper()
	var label string
	p.run("read the focus", func(ctx context.Context) error {
		var err error
		label, err = chromedp.Run(ctx, chromedp.Evaluate[string](focusedLabelJS))
		return err
	})
	return label
}

// URL returns the address of the current page.
func (p *Profile) URL() string {
	p.s.t.Helper()
	var u string
	p.run("read the URL", func(ctx context.Context) error {
		var err error
		u, err = chromedp.Run(ctx, chromedp.Location())
		return err
	})
	return u
}

// Loads counts the documents loaded in the tab so far. It does not change when htmx swaps
// part of a page, so comparing it before and after a step tells a partial update from a
// page reload.
func (p *Profile) Loads() int {
	return int(p.loads.Load())
}

// Eval evaluates a JavaScript expression in p's page and decodes its JSON value into T, for
// checks the helpers do not cover (such as querying the DOM).
func Eval[T any](p *Profile, expr string) T {
	p.s.t.Helper()
	var v T
	p.run("evaluate "+firstLine(expr), func(ctx context.Context) error {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		return err
	})
	return v
}

// run records a step (naming the screenshot if the test fails) and runs it within
// StepTimeout, failing the test on error.
func (p *Profile) run(step string, f func(ctx context.Context) error) {
	p.s.t.Helper()
	n := p.s.steps.Add(1)
	p.mu.Lock()
	p.stepN, p.step = n, step
	p.mu.Unlock()
	ctx, cancel := p.stepContext()
	defer cancel()
	if err := f(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			p.s.t.Fatalf("%s: step %d, %s: not done within %s: %v", p.name, n, step, StepTimeout, err)
		}
		p.s.t.Fatalf("%s: step %d, %s: %v", p.name, n, step, err)
	}
}

func (p *Profile) lastStep() (int64, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stepN, p.step
}

// url reads the current address for a failure message, without failing the test again.
func (p *Profile) url() string {
	ctx, cancel := context.WithTimeout(p.ctx, time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return u
}

// explain turns a step that timed out looking for something into an error that says what
// the page offers instead, listed by the JavaScript expression listJS.
func (p *Profile) explain(err error, format, subject, listJS string) error {
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errAfterAction) {
		return err
	}
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	found, lerr := chromedp.Run(ctx, chromedp.Evaluate[[]string](listJS))
	if lerr != nil {
		return fmt.Errorf(format+": %w", subject, "unknown", err)
	}
	return fmt.Errorf(format+": %w", subject, quoteAll(found), err)
}

// act runs an action that may make the page navigate (a click, Enter in a form) and, if it
// does, waits until the next page has loaded, so the next step sees that page and not the
// one being left. The page is marked with a token before the action; a navigation is
// noticed by the Navigation API's navigate event (or beforeunload) while the page settles
// after the action, or by the token being gone, and is over when a document without the
// token has loaded. Settling includes any htmx request the action started, so a click on
// an htmx button returns once the answer is swapped in (or its HX-Redirect has loaded).
func (p *Profile) act(ctx context.Context, action chromedp.Action[chromedp.Void]) error {
	token := rand.Text()
	// Retried, because a page can still be swapping documents when the step begins.
	if _, err := poll(ctx, armJS(token), func(bool) bool { return true }); err != nil {
		return fmt.Errorf("prepare the page: %w", err)
	}
	if err := chromedp.Do(ctx, action); err != nil {
		return err
	}
	navigated, err := chromedp.Run(ctx, chromedp.Evaluate[bool](settleJS(token), chromedp.EvalAwaitPromise))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", errAfterAction, err)
		}
		navigated = true // the document went away while we asked it
	}
	if !navigated {
		return nil
	}
	_, err = poll(ctx, loadedJS(token), func(loaded bool) bool { return loaded })
	if err != nil {
		return fmt.Errorf("%w: the next page did not load: %w", errAfterAction, err)
	}
	return nil
}

// errAfterAction marks a failure after the action was done (waiting for the page it led
// to), so it is not reported as the element being missing.
var errAfterAction = errors.New("after the action")

// poll evaluates expr every 50 ms until done accepts its value. Errors while a page is
// being replaced are expected and retried; on timeout the last value or error is reported.
func poll[T any](ctx context.Context, expr string, done func(T) bool) (T, error) {
	var last T
	var lastErr error
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		if err == nil {
			last, lastErr = v, nil
			if done(v) {
				return v, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return last, fmt.Errorf("%w (last seen: %+v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	return s
}

// jsString quotes a Go string as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// The page-side halves of the helpers. norm collapses white space, so labels and button
// texts match as a person reads them; controls are the form controls named by aria-label.
const norm = `const norm = s => (s || '').replace(/\s+/g, ' ').trim();
  const controls = 'input[aria-label], select[aria-label], textarea[aria-label]';`

func fieldJS(label string) string {
	return `(() => { ` + norm + `
  const want = ` + jsString(label) + `;
  for (const l of document.querySelectorAll('label')) {
    if (norm(l.textContent) === want && l.control) return l.control;
  }
  for (const el of document.querySelectorAll(controls)) {
    if (norm(el.getAttribute('aria-label')) === want) return el;
  }
  return null;
})()`
}

const labelsJS = `(() => { ` + norm + `
  return [...document.querySelectorAll('label, ' + controls)]
    .map(el => el.tagName === 'LABEL' ? norm(el.textContent) : norm(el.getAttribute('aria-label')));
})()`

// buttonName is how a person names a button: its text, a submit input's value, or its
// aria-label.
const buttonName = norm + `
  const name = el => norm(el.tagName === 'INPUT' ? el.value : el.textContent) || norm(el.getAttribute('aria-label'));`

// buttonJS prefers real buttons over role="button" links, because a page can have both
// with one text (the header's "Sign up" link and the sign-up form's button).
func buttonJS(text string) string {
	return `(() => { ` + buttonName + `
  const want = ` + jsString(text) + `;
  const find = sel => [...document.querySelectorAll(sel)].find(el => name(el) === want);
  return find('button, input[type=submit], input[type=button]') || find('[role=button]') || null;
})()`
}

const buttonsJS = `(() => { ` + buttonName + `
  return [...document.querySelectorAll('button, input[type=submit], input[type=button], [role=button]')].map(name);
})()`

func linkJS(text string) string {
	return `(() => { ` + norm + `
  const want = ` + jsString(text) + `;
  return [...document.querySelectorAll('a[href]')]
    .find(a => norm(a.textContent) === want || norm(a.getAttribute('aria-label')) === want) || null;
})()`
}

const linksJS = `(() => { ` + norm + `
  return [...document.querySelectorAll('a[href]')].map(a => norm(a.textContent));
})()`

func textsJS(selector string) string {
	return `[...document.querySelectorAll(` + jsString(selector) + `)].map(el => el.innerText)`
}

const focusedLabelJS = `(() => { ` + norm + `
  const el = document.activeElement;
  if (!el || el === document.body) return '';
  if (el.labels && el.labels.length) return norm(el.labels[0].textContent);
  return norm(el.getAttribute('aria-label') || el.textContent);
})()`

// armJS marks the document with token and notes when it starts leaving for another
// document. A same-document navigation (a fragment, htmx's history) is not leaving.
func armJS(token string) string {
	return `(() => {
  if (window.__browsertestDisarm) window.__browsertestDisarm();
  window.__browsertest = ` + jsString(token) + `;
  window.__browsertestLeaving = false;
  const leaving = () => {
    window.__browsertestLeaving = true;
    if (window.__browsertestWake) window.__browsertestWake(true);
  };
  const onNavigate = e => { if (!e.destination.sameDocument) leaving(); };
  if (window.navigation) navigation.addEventListener('navigate', onNavigate);
  addEventListener('beforeunload', leaving);
  window.__browsertestDisarm = () => {
    if (window.navigation) navigation.removeEventListener('navigate', onNavigate);
    removeEventListener('beforeunload', leaving);
  };
  return true;
})()`
}

// settleJS answers whether the page is leaving: at once if it is (or already left), else
// after 50 ms (time enough for the task a click or Enter queues to submit a form) and once
// no htmx request is in flight (htmx marks the requesting element with .htmx-request).
func settleJS(token string) string {
	return `new Promise(resolve => {
  if (window.__browsertest !== ` + jsString(token) + ` || window.__browsertestLeaving) return resolve(true);
  window.__browsertestWake = resolve;
  const check = () => {
    if (window.__browsertestLeaving) return resolve(true);
    if (document.querySelector('.htmx-request')) return setTimeout(check, 20);
    resolve(false);
  };
  setTimeout(check, 50);
})`
}

// loadedJS is true once a new document (without token) has finished loading.
func loadedJS(token string) string {
	return `window.__browsertest !== ` + jsString(token) + ` && document.readyState === 'complete'`
}
