package memstore_test

import (
	"testing"

	"github.com/maestro-ml/auth/authtest"
	"github.com/maestro-ml/auth/factor/totp/totptest"
	"github.com/maestro-ml/auth/store/memstore"
)

func TestStore(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	authtest.TestStores(t, authtest.Stores{Users: st, Tenants: st, Sessions: st, Revocations: st, Limiter: st, ActionTokens: st, AuditLog: st})
}

func TestTOTPStore(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	totptest.TestStore(t, totptest.Stores{Users: st, Tenants: st, TOTP: st, Recovery: st})
	t.Run("Again", func(t *testing.T) {
		totptest.TestStore(t, totptest.Stores{Users: st, Tenants: st, TOTP: st, Recovery: st})
	})
}
