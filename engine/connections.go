package engine

import (
	"context"
	"errors"
	"fmt"

	"policykit/models"
)

// Effects that set up and tear down a platform connection. They are recorded in the
// transaction that applies constitution.connect_platform or disconnect_platform, and
// delivered by the runtime like any effect (at once, retried, resumed after a crash), which
// is how the engine calls the platform's SetUp and TearDown.
const (
	EffectSetUp    = "set_up_connection"
	EffectTearDown = "tear_down_connection"
)

// connectionEffect records the effect that carries out an applied connect or disconnect on
// its platform.
func (t *txn) connectionEffect(a *models.Action) {
	kind := map[string]string{TypeConnect: EffectSetUp, TypeDisconnect: EffectTearDown}[a.Type]
	if kind == "" {
		return
	}
	platform := str(a.Params, "platform")
	conn, err := t.tx.ConnectionOf(t.ctx, t.community.ID, platform)
	if err != nil {
		return // gone meanwhile: nothing to set up or tear down
	}
	t.effects = append(t.effects, models.Effect{
		CommunityID: t.community.ID, ActionID: &a.ID, Seq: len(t.effects), Kind: kind, Platform: platform,
		Payload: map[string]any{"connection": conn.ID}, IdemKey: fmt.Sprintf("a%d:%s:%d", a.ID, kind, conn.ID),
		Status: models.EffectPending, NextAttemptAt: t.now, Result: map[string]any{}, CreatedAt: t.now,
	})
}

// deliverConnection sets up or tears down a connection on its platform and records the
// outcome: connected, or deleted. A connection that changed meanwhile (set up already,
// disconnected) is left as it is.
func (e *Engine) deliverConnection(ctx context.Context, p Platform, call Call) error {
	ef := call.Effect
	var id int64
	switch v := ef.Payload["connection"].(type) { // float64 once stored as JSON
	case float64:
		id = int64(v)
	case int64:
		id = v
	}
	conn, err := e.store.ConnectionByID(ctx, ef.CommunityID, id)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case ef.Kind == EffectSetUp && conn.Status == models.ConnectionApproved:
		if err := p.SetUp(ctx, conn); err != nil {
			return err
		}
		e.log.Info("platform connected", "platform", conn.Platform, "connection", conn.ID, "community", conn.CommunityID)
		return e.store.SetConnectionStatus(ctx, conn.ID, models.ConnectionConnected)
	case ef.Kind == EffectTearDown && conn.Status == models.ConnectionDisconnecting:
		// A platform that cannot reach its side any more (revoked tokens) is still
		// disconnected here: the community decided it.
		if err := tearDown(ctx, p, conn); err != nil && !errors.Is(err, ErrPermanent) {
			return err
		} else if err != nil {
			e.log.Warn("platform tear-down failed; disconnecting anyway", "platform", conn.Platform, "connection", conn.ID, "err", err)
		}
		e.log.Info("platform disconnected", "platform", conn.Platform, "connection", conn.ID, "community", conn.CommunityID)
		return e.store.DeleteConnection(ctx, conn.CommunityID, conn.ID)
	}
	return nil
}

func tearDown(ctx context.Context, p Platform, conn *models.PlatformConnection) error {
	if p == nil { // the platform is no longer configured on this server
		return nil
	}
	return p.TearDown(ctx, conn)
}

// Governs tells whether an event of a connection is governed. Events of a connection its
// community has not approved yet are refused rather than kept for later: the community has
// not agreed to govern that space, and its people are not members yet. Each refusal is
// counted on the connection, whose page says how many were not governed and when the last
// one arrived. Platforms call this once they know which connection an event belongs to.
func (e *Engine) Governs(ctx context.Context, conn *models.PlatformConnection) (bool, error) {
	if conn.Governed() {
		return true, nil
	}
	if conn.Status == models.ConnectionAwaiting {
		if err := e.store.RefuseEvent(ctx, conn.ID, e.Now()); err != nil {
			return false, fmt.Errorf("count refused event: %w", err)
		}
	}
	return false, nil
}
