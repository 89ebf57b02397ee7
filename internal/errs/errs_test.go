package errs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/maestro-ml/auth/internal/errs"
	"github.com/stretchr/testify/require"
)

var (
	errRoot  = errors.New("auth: invalid input")
	errOther = errors.New("auth: other")
)

func TestKind(t *testing.T) {
	policy := errs.Kind(errRoot, "auth: password policy")
	short := errs.Kind(policy, "auth: password is too short")
	require.Equal(t, "auth: password is too short", short.Error())
	require.ErrorIs(t, short, policy)
	require.ErrorIs(t, short, errRoot, "a kind matches its parent's parents")
	require.NotErrorIs(t, short, errOther)
	require.NotErrorIs(t, policy, short, "a parent is not its child")
}

func TestBecause(t *testing.T) {
	err := errs.Because(errRoot, "bad signature")
	require.Equal(t, "auth: invalid input: bad signature", err.Error())
	require.ErrorIs(t, err, errRoot)
	require.NotErrorIs(t, err, errOther)
}

func TestOp(t *testing.T) {
	err := errs.Op("bunstore.UserByEmail", errRoot, context.DeadlineExceeded)
	require.Equal(t, "auth: invalid input: context deadline exceeded (bunstore.UserByEmail)", err.Error())
	require.ErrorIs(t, err, errRoot)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, context.Canceled)
	require.Equal(t, "auth: other (redisstore.Revoke)", errs.Op("redisstore.Revoke", errOther).Error())
}
