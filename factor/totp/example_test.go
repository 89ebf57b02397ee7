package totp_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/factor/totp"
	"github.com/maestro-ml/auth/store/memstore"
)

func Example() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	key := totp.Key{ID: "2026-12", Secret: make([]byte, 32)} // from a secret manager in production
	_, _ = rand.Read(key.Secret)
	f, err := totp.New(totp.Config{Store: st, Keys: []totp.Key{key}, Issuer: "Example"})
	if err != nil {
		panic(err)
	}
	k, _ := auth.GenerateKey(auth.EdDSA)
	keys, _ := auth.NewKeySet(k)
	a, err := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st, ActionTokens: st,
		SecondFactors: []auth.SecondFactor{f}})
	if err != nil {
		panic(err)
	}
	u, err := a.Register(ctx, auth.RegisterRequest{Email: "ada@example.com", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}
	en, err := f.Enroll(ctx, u) // show en.QRPNG (or en.Secret) to the user
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(en.URI, "otpauth://totp/Example:ada@example.com?"))
	// The user types the app's first code: f.Confirm(ctx, u, code) returns
	// the recovery codes to show once. Logins then need a code:
	// a.LoginMFA(ctx, auth.MFARequest{Ticket: mfa.Ticket, Code: code}).
	st2, _ := f.Status(ctx, u.ID)
	fmt.Println(st2.Pending, st2.Enrolled)
	// Output:
	// true
	// true false
}
