package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskapi/server/ent"
)

// nodes returns the node of each id, of whichever type, nil where there is
// none the viewer may see (absent and not yours are not told apart). Ids
// carry no type, so each table ent knows is asked for the ids still
// unresolved: one query for the ids that are all tasks.
func (r *queryResolver) nodes(ctx context.Context, ids []uuid.UUID) ([]ent.Noder, error) {
	nodes := make([]ent.Noder, len(ids))
	rest := ids
	for _, table := range ent.NodeTables {
		if len(rest) == 0 {
			break
		}
		found, err := r.client.NodesIn(ctx, table, rest)
		if ent.IsNotFound(err) {
			continue // a table of no Node type
		}
		if err != nil {
			return nil, err
		}
		byID := make(map[uuid.UUID]ent.Noder, len(found))
		for i, n := range found {
			if n != nil {
				byID[rest[i]] = n
			}
		}
		rest = rest[:0:0]
		for i, id := range ids {
			if nodes[i] != nil {
				continue
			}
			if n, ok := byID[id]; ok {
				nodes[i] = n
			} else {
				rest = append(rest, id)
			}
		}
	}
	return nodes, nil
}
