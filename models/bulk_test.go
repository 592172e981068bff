package models_test

import (
	"context"
	"testing"
	"time"

	"policykit/models"
	"policykit/models/modelstest"
)

// Bulk inserts take a different path on each database (one JSON parameter on PostgreSQL,
// multi-row VALUES on SQLite); both must store exactly what the rows hold.
func TestBulkInsertRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	c, _ := modelstest.Community(t, s, "Bulk")
	at := time.Date(2026, 11, 25, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	effect := func(key string, payload map[string]any) models.Effect {
		return models.Effect{CommunityID: c.ID, Kind: "post", Platform: "test", Payload: payload, IdemKey: key,
			Status: models.EffectPending, NextAttemptAt: at, Result: map[string]any{}, CreatedAt: at}
	}
	tests := []struct {
		name    string
		rows    []models.Effect
		stored  int64
		payload string // of the row keyed "a"
	}{
		{"nothing", nil, 0, ""},
		{"rows with nulls, quotes and unicode", []models.Effect{
			effect("a", map[string]any{"text": `say "hi" — ✓`, "n": 9007199254740993}),
			effect("b", map[string]any{}),
		}, 2, `{"n":9007199254740993,"text":"say \"hi\" — ✓"}`},
		{"a duplicate key is skipped", []models.Effect{effect("a", map[string]any{"text": "other"}), effect("c", map[string]any{})}, 3,
			`{"n":9007199254740993,"text":"say \"hi\" — ✓"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.InsertEffects(ctx, tt.rows); err != nil {
				t.Fatal(err)
			}
			var n int64
			if err := s.DB().Model(&models.Effect{}).Where("community_id = ?", c.ID).Count(&n).Error; err != nil || n != tt.stored {
				t.Fatalf("stored %d effects (err %v), want %d", n, err, tt.stored)
			}
			if tt.payload == "" {
				return
			}
			var got struct {
				Payload       string
				ProposalID    *int64
				NextAttemptAt time.Time
			}
			if err := s.DB().Raw("SELECT payload, proposal_id, next_attempt_at FROM effects WHERE idem_key = 'a'").Scan(&got).Error; err != nil {
				t.Fatal(err)
			}
			if got.Payload != tt.payload || got.ProposalID != nil {
				t.Errorf("payload %s, proposal %v; want %s, nil", got.Payload, got.ProposalID, tt.payload)
			}
			if want := at.Truncate(time.Microsecond); !got.NextAttemptAt.Truncate(time.Microsecond).Equal(want) {
				t.Errorf("time %v, want %v (the same instant to the microsecond)", got.NextAttemptAt, want)
			}
		})
	}
}
