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

// NameTaken returns the name, as stored, of a row of the community whose name is name
// ignoring case (two roles called "Moderators" and "moderators" would only confuse), other
// than the row except (0 for none); "" when the name is free.
func (s *Store) NameTaken(ctx context.Context, communityID int64, n UniqueName, name string, except int64) (string, error) {
	var taken []string
	err := s.q(ctx).Table(n.table).Where("community_id = ? AND LOWER("+n.column+") = LOWER(?) AND id <> ?", communityID, name, except).
		Limit(1).Pluck(n.column, &taken).Error
	if err != nil {
		return "", fmt.Errorf("look up %s %s: %w", n.table, n.column, err)
	}
	if len(taken) == 0 {
		return "", nil
	}
	return taken[0], nil
}
