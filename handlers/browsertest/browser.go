// Package browsertest drives the real pages in headless Chromium for tests. A test binary
// starts one Chromium, lazily, and every Profile is a separate browser context in it (its
// own cookie jar, like a separate person). The helpers read like the steps a person takes
// (open, fill a labelled field, click a button, wait for text), each bounded by StepTimeout,
// and when a test fails every profile's page is saved under test-artifacts/<TestName>/.
//
// A test package that uses it stops the browser after its tests with:
//
//	func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }
//
// Without Chromium the tests skip, except under CI=true, where they fail: CI must never
// silently skip the browser tests.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package puts the browser (.ci/run installs it).
// When it is missing, "chromium" is looked up on PATH.
const ChromiumPath = "/usr/bin/chromium"

// StepTimeout bounds every helper, so a stuck page fails the test in seconds, not when
// `go test -timeout` ends the whole binary.
const StepTimeout = 15 * time.Second

// startTimeout bounds starting Chromium, which is slower than a step on a cold CI runner.
const startTimeout = 30 * time.Second

// errNoChromium says Chromium is not installed; New skips (or fails under CI) on it.
var errNoChromium = errors.New("chromium is not installed")

// browser is the one Chromium process of a test binary.
type browser struct {
	mainCalled atomic.Bool // Main is running the tests, so the browser will be stopped

	once   sync.Once
	err    error           // why the start failed, for every later test
	ctx    context.Context // root chromedp context; each profile is a child of it
	cancel context.CancelFunc
	output *cappedBuffer // Chromium's stderr, shown when it fails to start
}

// shared is the browser of this test binary. It is package state on purpose: starting
// Chromium costs about a second, so all tests of a binary share one process (each profile
// still gets a fresh browser context, so no cookies or storage leak between tests). The
// sync.Once starts it on first use, so binaries that never open a page never start it,
// and Main stops it. This package is imported only by tests, so the state never reaches the
// server binary.
var shared browser

// Main runs the tests of a package and then stops the shared browser, so no Chromium or
// temporary profile directory outlives the test binary. Call it from TestMain.
func Main(m *testing.M) int {
	shared.mainCalled.Store(true)
	code := m.Run()
	shared.close()
	return code
}

// get starts the browser on first use and returns its root context.
func (b *browser) get() (context.Context, error) {
	b.once.Do(func() { b.err = b.start() })
	return b.ctx, b.err
}

func (b *browser) start() error {
	path, err := chromiumPath()
	if err != nil {
		return err
	}
	b.output = &cappedBuffer{max: 64 << 10}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // containers and CI run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Chromium otherwise phones home (updates, sync, field trials, QUIC probes); on a
		// closed network that floods the logs with refused connections and slows start-up.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.output),
		// No UserDataDir option: chromedp then creates a fresh temporary profile directory
		// and removes it (and kills leftover child processes) when the browser stops.
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	b.cancel = func() {
		// Close the browser politely first, so it removes its own files; cancelAlloc then
		// waits for the process and deletes the profile directory.
		closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = chromedp.Cancel(closeCtx)
		cancelCtx()
		cancelAlloc()
	}
	// The first Do starts the process and binds its life to ctx, so it must not run under a
	// timeout context; a watchdog cancels ctx instead if Chromium never answers.
	if err := withWatchdog(startTimeout, cancelCtx, func() error { return chromedp.Do(ctx) }); err != nil {
		b.cancel()
		return fmt.Errorf("start %s: %w\n%s", path, err, b.output.String())
	}
	return nil
}

func (b *browser) close() {
	if b.cancel != nil {
		b.cancel()
	}
}

func chromiumPath() (string, error) {
	if _, err := os.Stat(ChromiumPath); err == nil {
		return ChromiumPath, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w (looked for %s and chromium on PATH)", errNoChromium, ChromiumPath)
}

// inCI reports whether CI=true, where a missing browser must fail the tests, not skip them.
func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// withWatchdog runs f and calls cancel if f has not returned after d. It is for the first
// chromedp call on a context, which ties the tab's or browser's life to the context it gets
// and so cannot be given a context with a deadline.
func withWatchdog(d time.Duration, cancel func(), f func() error) error {
	timer := time.AfterFunc(d, cancel)
	err := f()
	if !timer.Stop() {
		return fmt.Errorf("no answer within %s: %w", d, err)
	}
	return err
}

// cappedBuffer keeps the first max bytes written to it; Chromium writes its log from its own
// goroutine while a test may read it.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
