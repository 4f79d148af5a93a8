package gqlerr_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/taskapi/server/internal/gqlerr"
)

// TestPresenterCodesEverything: errors from below the resolvers get codes
// a client can act on, and no driver text.
func TestPresenterCodesEverything(t *testing.T) {
	present := gqlerr.NewPresenter(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("querying: %w", driver.ErrBadConn), gqlerr.Unavailable},
		{fmt.Errorf("querying: %w", context.DeadlineExceeded), gqlerr.Timeout},
		{fmt.Errorf("querying: %w", context.Canceled), gqlerr.Timeout},
		{fmt.Errorf("pq: something internal"), gqlerr.InternalServerError},
	} {
		got := present(ctx, tc.err)
		if got.Extensions["code"] != tc.code || got.Message == tc.err.Error() {
			t.Errorf("%v: %+v, want %s", tc.err, got, tc.code)
		}
	}
}
