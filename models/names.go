package models

import (
	"context"
	"fmt"
)

// UniqueName is a kind of name that must be unique in a community: a table's name column.
type UniqueName struct{ table, column string }

// The names a community cannot hold twice. A removed document keeps its title.
var (
	RoleName      = UniqueName{"roles", "name"}
	PolicyName    = UniqueName{"policies", "name"}
	DocumentTitle = UniqueName{"documents", "title"}
)

// NameTaken tells whether a community already has a row with this name, ignoring case (two
// roles called "Moderators" and "moderators" would only confuse), other than the row except
// (0 for none).
func (s *Store) NameTaken(ctx context.Context, communityID int64, n UniqueName, name string, except int64) (bool, error) {
	var count int64
	err := s.q(ctx).Table(n.table).Where("community_id = ? AND LOWER("+n.column+") = LOWER(?) AND id <> ?", communityID, name, except).
		Count(&count).Error
	if err != nil {
		return false, fmt.Errorf("look up %s %s: %w", n.table, n.column, err)
	}
	return count > 0, nil
}
