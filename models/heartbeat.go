package models

import (
	"context"
	"fmt"
	"time"
)

// Every server process holds a heartbeat row, refreshed every second or so. Claims on work
// (effects being delivered, inbox items being processed) and leases on long-lived links name
// the process that holds them; when a process's heartbeat goes stale it has died (kill -9, a
// lost machine), and any other process hands its claims back at once instead of waiting for
// them to expire. A live process's claims are never taken: its heartbeat is fresh.

// Beat records that a process is alive at now. It reports false when the process had no
// heartbeat row: its first beat, or one after the others took it for dead (its beats were
// late) and handed its claims back.
func (s *Store) Beat(ctx context.Context, instance string, now time.Time) (known bool, err error) {
	res := s.q(ctx).Exec("UPDATE heartbeats SET seen_at = ? WHERE instance = ?", now.UTC(), instance)
	if res.Error != nil {
		return false, fmt.Errorf("heartbeat: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	err = s.q(ctx).Exec(`INSERT INTO heartbeats (instance, started_at, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at`, instance, now.UTC(), now.UTC()).Error
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return false, nil
}

// EndInstance removes the heartbeat of a process that stopped and handed its claims back.
func (s *Store) EndInstance(ctx context.Context, instance string) error {
	return s.q(ctx).Exec("DELETE FROM heartbeats WHERE instance = ?", instance).Error
}

// Released counts what ReleaseDeadClaims handed back.
type Released struct {
	Instances  []string // the processes found dead
	Effects    int64
	Deliveries int64
	Leases     int64
}

// ReleaseDeadClaims finds the processes whose last heartbeat is older than staleBefore,
// hands back their effect claims (their attempts still count: the dead process may have
// called the platform, so the next attempt reconciles), their inbox claims and their leases,
// and forgets them. Several processes may run it at once; each dead process is released once.
func (s *Store) ReleaseDeadClaims(ctx context.Context, staleBefore, now time.Time) (Released, error) {
	var out Released
	err := s.Tx(ctx, func(tx *Store) error {
		lock := ""
		if tx.Dialect() == DialectPostgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		if err := tx.q(ctx).Raw("SELECT instance FROM heartbeats WHERE seen_at < ?"+lock, staleBefore.UTC()).Scan(&out.Instances).Error; err != nil {
			return fmt.Errorf("find stale heartbeats: %w", err)
		}
		if len(out.Instances) == 0 {
			return nil
		}
		dead := out.Instances
		res := tx.q(ctx).Exec(`UPDATE effects SET claimed_until = NULL WHERE claimed_by IN ? AND status = '`+EffectPending+`' AND claimed_until IS NOT NULL`, dead)
		if res.Error != nil {
			return fmt.Errorf("release effects: %w", res.Error)
		}
		out.Effects = res.RowsAffected
		res = tx.q(ctx).Exec(`UPDATE inbound_deliveries SET claimed_until = ?, claimed_by = NULL WHERE claimed_by IN ? AND body IS NOT NULL`, now.UTC(), dead)
		if res.Error != nil {
			return fmt.Errorf("release inbox items: %w", res.Error)
		}
		out.Deliveries = res.RowsAffected
		res = tx.q(ctx).Exec("DELETE FROM leases WHERE holder IN ?", dead)
		if res.Error != nil {
			return fmt.Errorf("release leases: %w", res.Error)
		}
		out.Leases = res.RowsAffected
		return tx.q(ctx).Exec("DELETE FROM heartbeats WHERE instance IN ?", dead).Error
	})
	if err != nil {
		return Released{}, err
	}
	return out, nil
}

// A lease gives one process at a time a long-lived job (a gateway session, a poller, a
// Socket Mode link). Its holder renews it well before it expires; a holder that dies loses it
// when its heartbeat goes stale (ReleaseDeadClaims) or, at the latest, when it expires.

// AcquireLease takes or renews the lease name for holder until expires. It reports whether
// holder has it now: false while another process holds an unexpired lease.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (bool, error) {
	res := s.q(ctx).Exec(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?`, name, holder, expires.UTC(), now.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("lease %s: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease gives a lease up, if holder still has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.q(ctx).Exec("DELETE FROM leases WHERE name = ? AND holder = ?", name, holder).Error
}

// LeaseHolder says who holds a lease ("" when nobody does).
func (s *Store) LeaseHolder(ctx context.Context, name string, now time.Time) (string, error) {
	var holder []string
	err := s.q(ctx).Raw("SELECT holder FROM leases WHERE name = ? AND expires_at >= ?", name, now.UTC()).Scan(&holder).Error
	if err != nil || len(holder) == 0 {
		return "", err
	}
	return holder[0], nil
}
