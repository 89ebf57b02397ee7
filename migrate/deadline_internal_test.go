package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The driver's own i/o timeout, which can fire before the context's timer,
// still reads as the context's deadline.
func TestKeepDeadline(t *testing.T) {
	ioTimeout := fmt.Errorf("read tcp 127.0.0.1:1->127.0.0.1:5432: %w", os.ErrDeadlineExceeded)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	require.ErrorIs(t, keepDeadline(ctx, ioTimeout), context.DeadlineExceeded, "the connection's deadline came from ctx")
	require.ErrorIs(t, keepDeadline(ctx, ioTimeout), os.ErrDeadlineExceeded, "the cause stays in the chain")

	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	other := errors.New("unexpected EOF")
	require.ErrorIs(t, keepDeadline(past, other), context.DeadlineExceeded, "the deadline has passed")

	require.NotErrorIs(t, keepDeadline(context.Background(), ioTimeout), context.DeadlineExceeded, "no deadline of ctx's")
	require.NotErrorIs(t, keepDeadline(ctx, other), context.DeadlineExceeded, "deadline not reached")
	require.NoError(t, keepDeadline(ctx, nil))
}
