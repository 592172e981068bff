package enginetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"policykit/engine"
	"policykit/models"
	"policykit/models/modelstest"
)

// Clock is a time source tests move by hand, so deadlines fire without sleeping.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Env is a governed test world: a real database, an engine with the recording platform and a
// hand-driven clock.
type Env struct {
	Store    *models.Store
	Engine   *engine.Engine
	Platform *Platform
	Clock    *Clock
}

// New opens a fresh database and an engine on it.
func New(tb testing.TB) *Env {
	tb.Helper()
	store := modelstest.Open(tb)
	clock := NewClock()
	p := NewPlatform()
	eng, err := engine.New(store, engine.Options{Clock: clock.Now, Platforms: []engine.Platform{p},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	return &Env{Store: store, Engine: eng, Platform: p, Clock: clock}
}

// Community creates a community with a starter kit, its creator and n-1 more members, and
// the test platform connected (Connect), and returns it with the member ids (creator first).
func (e *Env) Community(tb testing.TB, name, kit string, n int) (*models.Community, []int64) {
	tb.Helper()
	c, ids := e.WebOnlyCommunity(tb, name, kit, n)
	e.Connect(tb, c)
	return c, ids
}

// Channels are the channels of the test platform a connected community knows.
var Channels = []string{"C1", "C2"}

// Connect connects the test platform to a community, knowing Channels.
func (e *Env) Connect(tb testing.TB, c *models.Community) {
	tb.Helper()
	Connect(tb, e.Store, c)
}

// Connect connects the test platform to a community of a store, knowing Channels.
func Connect(tb testing.TB, store *models.Store, c *models.Community) {
	tb.Helper()
	ctx := context.Background()
	conn := &models.PlatformConnection{CommunityID: c.ID, Platform: "test", ExternalID: fmt.Sprintf("test-%d", c.ID),
		Name: c.Name + " on test", Status: models.ConnectionConnected}
	if err := store.SaveConnection(ctx, conn, map[string]string{}); err != nil {
		tb.Fatalf("connect the test platform: %v", err)
	}
	var chs []models.PlatformChannel
	for _, id := range Channels {
		chs = append(chs, models.PlatformChannel{ConnectionID: conn.ID, ChannelID: id, Name: "channel-" + id})
	}
	if err := store.SaveChannels(ctx, chs); err != nil {
		tb.Fatal(err)
	}
}

// WebOnlyCommunity is Community without any platform connected.
func (e *Env) WebOnlyCommunity(tb testing.TB, name, kit string, n int) (*models.Community, []int64) {
	tb.Helper()
	ctx := context.Background()
	owner := modelstest.Account(tb, e.Store, name+" founder")
	c, creator, err := e.Engine.CreateCommunity(ctx, models.NewCommunity{Name: name}, owner, kit)
	if err != nil {
		tb.Fatalf("create community: %v", err)
	}
	ids := []int64{creator.ID}
	for i := 1; i < n; i++ {
		m, err := e.Store.AddMember(ctx, c.ID, fmt.Sprintf("Member %d", i))
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return c, ids
}
