package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// What platform integrations remember in the database rather than in memory, so that a
// restart or a second replica behaves the same: deliveries already seen, echoes we expect,
// parts of effects already sent, and channel names and topics.

// RecordDelivery remembers an inbound delivery key (a platform's event id, a request signature)
// until expires. It reports false when the key was already recorded: a retry, a duplicate
// or a replay. Concurrent replicas agree, as the key is the table's primary key.
func (s *Store) RecordDelivery(ctx context.Context, platform, key string, expires time.Time) (bool, error) {
	return s.AcceptDelivery(ctx, InboundDelivery{Platform: platform, Key: key}, "", expires, time.Time{})
}

// InboundDelivery is an accepted delivery kept until it is processed (the inbox).
type InboundDelivery struct {
	Platform string
	Key      string
	Kind     string // what the platform calls it ("event", "click")
	Body     string
	Attempts int
}

// AcceptDelivery records a delivery with its body before it is acknowledged, claimed for
// processing by claimant until claimedUntil (a delivery without a body is only a key). It
// reports false for a key already recorded.
func (s *Store) AcceptDelivery(ctx context.Context, d InboundDelivery, claimant string, expires, claimedUntil time.Time) (bool, error) {
	var body, claim, by any
	attempts := 0
	if d.Body != "" { // claimed at once by the process that accepted it: its first attempt
		body, claim, by, attempts = d.Body, claimedUntil.UTC(), claimant, 1
	}
	res := s.q(ctx).Exec(`INSERT INTO inbound_deliveries (platform, dedupe_key, expires_at, kind, body, claimed_until, claimed_by, attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (platform, dedupe_key) DO NOTHING`, d.Platform, d.Key, expires.UTC(), d.Kind, body, claim, by, attempts)
	if res.Error != nil {
		return false, fmt.Errorf("record delivery: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ConsumeDelivery marks a delivery processed. It reports false when it already was (or was
// never accepted): run inside the transaction that acts on the delivery, it makes acting on
// it happen once, however often the delivery is processed.
func (s *Store) ConsumeDelivery(ctx context.Context, platform, key string) (bool, error) {
	res := s.q(ctx).Exec(`UPDATE inbound_deliveries SET body = NULL, claimed_until = NULL, claimed_by = NULL
		WHERE platform = ? AND dedupe_key = ? AND body IS NOT NULL`, platform, key)
	if res.Error != nil {
		return false, fmt.Errorf("consume delivery: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ClaimUnprocessed claims for claimant, until `until`, up to limit accepted deliveries of
// the given platforms that nobody holds (their claim expired, was handed back, or belonged
// to a process that died), counting an attempt, and returns them. A delivery is claimed by
// one replica at a time.
func (s *Store) ClaimUnprocessed(ctx context.Context, platforms []string, claimant string, now, until time.Time, limit int) ([]InboundDelivery, error) {
	if len(platforms) == 0 {
		return nil, nil
	}
	lock := ""
	if s.Dialect() == DialectPostgres {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	var rows []struct {
		Platform, DedupeKey, Kind, Body string
		Attempts                        int
	}
	err := s.q(ctx).Raw(`UPDATE inbound_deliveries SET claimed_until = ?, claimed_by = ?, attempts = attempts + 1
		WHERE (platform, dedupe_key) IN (
			SELECT platform, dedupe_key FROM inbound_deliveries
			WHERE body IS NOT NULL AND claimed_until < ? AND platform IN ? ORDER BY claimed_until LIMIT ? `+lock+`)
		RETURNING platform, dedupe_key, kind, body, attempts`, until.UTC(), claimant, now.UTC(), platforms, limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("claim unprocessed deliveries: %w", err)
	}
	out := make([]InboundDelivery, len(rows))
	for i, r := range rows {
		out[i] = InboundDelivery{Platform: r.Platform, Key: r.DedupeKey, Kind: r.Kind, Body: r.Body, Attempts: r.Attempts}
	}
	return out, nil
}

// RetryDelivery hands a delivery whose processing failed back to the inbox, to be claimed
// again from next on.
func (s *Store) RetryDelivery(ctx context.Context, platform, key string, next time.Time) error {
	return s.q(ctx).Exec(`UPDATE inbound_deliveries SET claimed_until = ?, claimed_by = NULL
		WHERE platform = ? AND dedupe_key = ? AND body IS NOT NULL`, next.UTC(), platform, key).Error
}

// ReleaseDeliveries hands a process's unfinished deliveries back at once (it is stopping),
// without counting the attempts their claims counted.
func (s *Store) ReleaseDeliveries(ctx context.Context, claimant string, now time.Time) error {
	return s.q(ctx).Exec(`UPDATE inbound_deliveries SET claimed_until = ?, claimed_by = NULL, attempts = attempts - 1
		WHERE claimed_by = ? AND body IS NOT NULL`, now.UTC(), claimant).Error
}

// ForgetDelivery removes a recorded key, so that a delivery we could not accept is taken
// when the platform sends it again.
func (s *Store) ForgetDelivery(ctx context.Context, platform, key string) error {
	return s.q(ctx).Exec("DELETE FROM inbound_deliveries WHERE platform = ? AND dedupe_key = ?", platform, key).Error
}

// PruneInbound deletes delivery keys and expected echoes whose time has passed.
func (s *Store) PruneInbound(ctx context.Context, now time.Time) (int64, error) {
	a := s.q(ctx).Exec("DELETE FROM inbound_deliveries WHERE expires_at < ? AND body IS NULL", now.UTC())
	if a.Error != nil {
		return 0, fmt.Errorf("prune deliveries: %w", a.Error)
	}
	b := s.q(ctx).Exec("DELETE FROM platform_echoes WHERE expires_at < ?", now.UTC())
	if b.Error != nil {
		return 0, fmt.Errorf("prune echoes: %w", b.Error)
	}
	return a.RowsAffected + b.RowsAffected, nil
}

// ExpectEcho records, before we make a platform call, the event that call will cause
// ("rename:C1:general"), so the event is recognised as ours when it arrives, even before
// the call returns and even on another replica.
func (s *Store) ExpectEcho(ctx context.Context, connectionID int64, key string, expires time.Time) error {
	return s.q(ctx).Exec("INSERT INTO platform_echoes (connection_id, echo_key, expires_at) VALUES (?, ?, ?)",
		connectionID, key, expires.UTC()).Error
}

// ConsumeEcho reports whether an event was expected as the echo of our own call, and
// forgets one expectation so that each call excuses one event.
func (s *Store) ConsumeEcho(ctx context.Context, connectionID int64, key string, now time.Time) (bool, error) {
	res := s.q(ctx).Exec(`DELETE FROM platform_echoes WHERE id = (SELECT id FROM platform_echoes
		WHERE connection_id = ? AND echo_key = ? AND expires_at >= ? ORDER BY id LIMIT 1)`, connectionID, key, now.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("consume echo: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ForgetEcho drops an expectation whose call certainly did not happen (the platform refused it).
func (s *Store) ForgetEcho(ctx context.Context, connectionID int64, key string) error {
	return s.q(ctx).Exec(`DELETE FROM platform_echoes WHERE id = (SELECT id FROM platform_echoes
		WHERE connection_id = ? AND echo_key = ? ORDER BY id DESC LIMIT 1)`, connectionID, key).Error
}

// EffectParts returns what earlier attempts of a multi-part delivery already sent (the DM to
// each juror...), part name → platform reference.
func (s *Store) EffectParts(ctx context.Context, effectID int64) (map[string]string, error) {
	var rows []struct {
		Part string
		Ref  string
	}
	if err := s.q(ctx).Raw("SELECT part, ref FROM effect_parts WHERE effect_id = ?", effectID).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("load effect parts: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Part] = r.Ref
	}
	return out, nil
}

// SaveEffectPart records one part of a delivery as sent, so a retry does not send it again.
func (s *Store) SaveEffectPart(ctx context.Context, effectID int64, part, ref string) error {
	return s.q(ctx).Exec(`INSERT INTO effect_parts (effect_id, part, ref) VALUES (?, ?, ?)
		ON CONFLICT (effect_id, part) DO NOTHING`, effectID, part, ref).Error
}

// PlatformChannel is the last known state of a channel of a connected workspace.
type PlatformChannel struct {
	ConnectionID int64
	ChannelID    string
	Name         string
	Topic        string
	UpdatedAt    time.Time
}

// SaveChannels stores channels' names and topics (as listed at install).
func (s *Store) SaveChannels(ctx context.Context, chs []PlatformChannel) error {
	now := time.Now().UTC()
	for _, c := range chs {
		if err := s.q(ctx).Exec(`INSERT INTO platform_channels (connection_id, channel_id, name, topic, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (connection_id, channel_id) DO UPDATE SET name = excluded.name, topic = excluded.topic, updated_at = excluded.updated_at`,
			c.ConnectionID, c.ChannelID, c.Name, c.Topic, now).Error; err != nil {
			return fmt.Errorf("save channel: %w", err)
		}
	}
	return nil
}

// SetChannelName records a channel's new name, keeping its topic.
func (s *Store) SetChannelName(ctx context.Context, connectionID int64, channelID, name string) error {
	return s.q(ctx).Exec(`INSERT INTO platform_channels (connection_id, channel_id, name, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (connection_id, channel_id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`,
		connectionID, channelID, name, time.Now().UTC()).Error
}

// SetChannelTopic records a channel's new topic, keeping its name.
func (s *Store) SetChannelTopic(ctx context.Context, connectionID int64, channelID, topic string) error {
	return s.q(ctx).Exec(`INSERT INTO platform_channels (connection_id, channel_id, topic, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (connection_id, channel_id) DO UPDATE SET topic = excluded.topic, updated_at = excluded.updated_at`,
		connectionID, channelID, topic, time.Now().UTC()).Error
}

// Channels lists the channels a connection knows, by name, for forms to offer.
func (s *Store) Channels(ctx context.Context, connectionID int64) ([]PlatformChannel, error) {
	var cs []PlatformChannel
	err := s.q(ctx).Raw("SELECT * FROM platform_channels WHERE connection_id = ? ORDER BY name, channel_id", connectionID).Scan(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return cs, nil
}

// ChannelByID returns the last known state of a channel; ErrNotFound when never seen.
func (s *Store) ChannelByID(ctx context.Context, connectionID int64, channelID string) (*PlatformChannel, error) {
	var c PlatformChannel
	err := s.q(ctx).Raw("SELECT * FROM platform_channels WHERE connection_id = ? AND channel_id = ?", connectionID, channelID).Scan(&c).Error
	if err != nil {
		return nil, fmt.Errorf("load channel: %w", err)
	}
	if c.ChannelID == "" {
		return nil, fmt.Errorf("channel: %w", ErrNotFound)
	}
	return &c, nil
}

// ConnectionOf returns a community's connection to a platform.
func (s *Store) ConnectionOf(ctx context.Context, communityID int64, platform string) (*PlatformConnection, error) {
	var c PlatformConnection
	err := s.q(ctx).Where("community_id = ? AND platform = ?", communityID, platform).Order("id").First(&c).Error
	if err != nil {
		err = notFound(err, "connection")
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("no %s workspace is connected to this community: %w", platform, ErrNotFound)
		}
		return nil, err
	}
	return &c, nil
}

// SetConnectionStatus records a connection's health ("connected", or why it stopped working).
func (s *Store) SetConnectionStatus(ctx context.Context, connectionID int64, status string) error {
	return s.q(ctx).Model(&PlatformConnection{}).Where("id = ?", connectionID).
		Updates(map[string]any{"status": status, "updated_at": time.Now().UTC()}).Error
}
