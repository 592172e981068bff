package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
	"policykit/models/modelstest"
)

// Crash and replica tests run real server processes: the test binary started again as a
// helper (TestMain sees PK_HELPER), which opens the same database, runs a Runtime, says
// what it is doing on stdout, and is killed with SIGKILL — nothing handed back, no deferred
// cleanup, as after kill -9.

func TestMain(m *testing.M) {
	if mode := os.Getenv("PK_HELPER"); mode != "" {
		os.Exit(helperProcess(mode, os.Getenv("PK_DSN")))
	}
	os.Exit(m.Run())
}

// helperProcess is a server process for the tests: "deliver" delivers effects with a
// platform that hangs in every call, "inbox" processes the inbox with a platform that hangs
// on every delivery, "link" keeps the test platform's one link.
func helperProcess(mode, dsn string) int {
	ctx := context.Background()
	store, err := models.Open(ctx, dsn, modelstest.SecretKey)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	p := enginetest.NewPlatform()
	hang := func() { select {} }
	switch mode {
	case "deliver":
		p.OnCall = func(c enginetest.Call) { fmt.Println("calling", c.Method); hang() }
	case "inbox":
		p.OnReceive = func(_ context.Context, d models.InboundDelivery) error {
			fmt.Println("receiving", d.Key)
			hang()
			return nil
		}
	case "link":
		p.LinkKeys = []string{"test:gateway"}
		p.RunLink = func(ctx context.Context, key string) error {
			fmt.Println("holding", key)
			<-ctx.Done()
			fmt.Println("released", key)
			return nil
		}
	}
	e, err := engine.New(store, engine.Options{Platforms: []engine.Platform{p}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	rt, err := engine.NewRuntime(e, engine.RuntimeOptions{Instance: "helper-" + mode + "-" + models.RandomCode(3), Registry: prometheus.NewRegistry()})
	if err != nil || rt.Start(ctx) != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("started")
	select {} // until killed
}

// helper is a running helper process and the lines it has printed.
type helper struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	seen  chan struct{} // a new line arrived
}

func startHelper(t *testing.T, mode, dsn string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PK_HELPER="+mode, "PK_DSN="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{t: t, cmd: cmd, seen: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.mu.Lock()
			h.lines = append(h.lines, sc.Text())
			h.mu.Unlock()
			select {
			case h.seen <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(h.kill)
	return h
}

// waitFor waits until the helper printed a line starting with prefix.
func (h *helper) waitFor(prefix string, within time.Duration) {
	h.t.Helper()
	deadline := time.After(within)
	for !h.printed(prefix) {
		select {
		case <-h.seen:
		case <-deadline:
			h.t.Fatalf("helper did not print %q within %s; it printed %q", prefix, within, h.output())
		}
	}
}

func (h *helper) printed(prefix string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
		if strings.HasPrefix(l, "error") {
			h.t.Errorf("helper: %s", l)
		}
	}
	return false
}

func (h *helper) output() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}

// kill sends SIGKILL and waits for the process to be gone.
func (h *helper) kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}

// startRuntime runs a runtime on env's engine (a replica, or the restarted process).
func startRuntime(t *testing.T, env *enginetest.Env, instance string) *engine.Runtime {
	t.Helper()
	rt, err := engine.NewRuntime(env.Engine, engine.RuntimeOptions{Instance: instance, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := rt.Stop(stopCtx); err != nil {
			t.Error(err)
		}
	})
	return rt
}

// waitUntil polls cond every 20 ms and returns how long it took to hold.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestKilledProcessWorkResumesWithinSeconds: a process delivering an effect, or processing
// an inbox item, is killed with SIGKILL mid-call. While it lived, a replica running beside
// it never took its claim (its heartbeat was fresh, though longer than the heartbeat timeout
// passed); once it is dead, the replica carries the work out within 5 seconds (a claim's own
// expiry is a minute).
func TestKilledProcessWorkResumesWithinSeconds(t *testing.T) {
	t.Run("effect", func(t *testing.T) {
		t.Parallel()
		dsn := modelstest.DSN(t)
		env := openEngine(t, dsn)
		c, m := env.Community(t, "Killed", engine.KitEverythingPasses, 2)
		res := proposeMessage(t, env, c, m[1])
		dead := startHelper(t, "deliver", dsn)
		dead.waitFor("calling execute", 30*time.Second)
		startRuntime(t, env, "replica")
		time.Sleep(4 * time.Second) // past the 3 s heartbeat timeout: a live process keeps its claim
		if n := len(env.Platform.Calls("execute")); n != 0 {
			t.Fatalf("the replica took a live process's claim: %d execute calls", n)
		}
		dead.kill()
		took := waitUntil(t, 10*time.Second, "the dead process's effect delivered", func() bool {
			return effectOf(t, env, res.Action.ID, "execute").Status == models.EffectDone
		})
		t.Logf("%s: effect of a killed process delivered %s after SIGKILL", modelstest.Name(), took.Round(10*time.Millisecond))
		if took > 5*time.Second {
			t.Fatalf("resumed after %s, want within 5s", took)
		}
		if calls := env.Platform.Calls("execute"); len(calls) != 1 || calls[0].Attempt != 2 {
			t.Fatalf("execute calls %+v: want one, knowing it is a retry (attempt 2), so it reconciles", calls)
		}
	})
	t.Run("inbox", func(t *testing.T) {
		t.Parallel()
		dsn := modelstest.DSN(t)
		env := openEngine(t, dsn)
		received := make(chan string, 4)
		env.Platform.OnReceive = func(_ context.Context, d models.InboundDelivery) error { received <- d.Key; return nil }
		dead := startHelper(t, "inbox", dsn)
		dead.waitFor("started", 30*time.Second)
		// The helper's inbox takes the item as a delivery nobody holds, and hangs in it.
		if _, err := env.Store.AcceptDelivery(ctx, models.InboundDelivery{Platform: "test", Key: "event:1", Kind: "event", Body: "{}"},
			"", time.Now().Add(time.Hour), time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		dead.waitFor("receiving event:1", 30*time.Second)
		startRuntime(t, env, "replica")
		time.Sleep(4 * time.Second)
		select {
		case k := <-received:
			t.Fatalf("the replica took a live process's inbox item %s", k)
		default:
		}
		dead.kill()
		start := time.Now()
		select {
		case <-received:
		case <-time.After(10 * time.Second):
			t.Fatal("the dead process's inbox item was not taken up")
		}
		took := time.Since(start)
		t.Logf("%s: inbox item of a killed process processed %s after SIGKILL", modelstest.Name(), took.Round(10*time.Millisecond))
		if took > 5*time.Second {
			t.Fatalf("resumed after %s, want within 5s", took)
		}
	})
}

// TestLinkMovesWhenItsHolderDies: three server processes on one database keep the test
// platform's one long-lived link (as a gateway session or a poller). Exactly one runs it at
// a time; when its process is killed with SIGKILL, another takes it over within seconds.
func TestLinkMovesWhenItsHolderDies(t *testing.T) {
	dsn := modelstest.DSN(t)
	openEngine(t, dsn) // migrates
	procs := []*helper{startHelper(t, "link", dsn), startHelper(t, "link", dsn), startHelper(t, "link", dsn)}
	holders := func() []int {
		var out []int
		for i, p := range procs {
			if p.cmd.ProcessState == nil && p.printed("holding") && !p.printed("released") {
				out = append(out, i)
			}
		}
		return out
	}
	waitUntil(t, 30*time.Second, "a process holds the link", func() bool { return len(holders()) > 0 })
	time.Sleep(3 * time.Second) // three lease rounds: nobody else starts it meanwhile
	first := holders()
	if len(first) != 1 {
		t.Fatalf("processes %v hold the link at once", first)
	}
	procs[first[0]].kill()
	took := waitUntil(t, 15*time.Second, "another process takes the link over", func() bool { return len(holders()) == 1 })
	t.Logf("%s: link moved to another process %s after its holder was killed", modelstest.Name(), took.Round(10*time.Millisecond))
	if took > 5*time.Second {
		t.Fatalf("the link moved after %s, want within 5s", took)
	}
	time.Sleep(2 * time.Second)
	if now := holders(); len(now) != 1 || now[0] == first[0] {
		t.Fatalf("after the takeover, processes %v hold the link", now)
	}
	for i, p := range procs {
		if i != first[0] && p.printed("released") {
			t.Fatalf("process %d gave the link up: %q", i, p.output())
		}
	}
}
