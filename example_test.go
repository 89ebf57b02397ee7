package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/store/memstore"
)

// The whole life of a session: register, log in, authenticate a request,
// refresh, log out.
func Example() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()

	key, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		panic(err)
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		panic(err)
	}
	a, err := auth.New(auth.Config{
		Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}

	u, err := a.Register(ctx, auth.RegisterRequest{Email: "Kate@Example.com", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}
	fmt.Println("registered:", u.Email, u.Role)

	pair, _, err := a.Login(ctx, auth.LoginRequest{Email: "kate@example.com", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}
	claims, err := a.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		panic(err)
	}
	fmt.Println("authenticated:", claims.UserID == u.ID, claims.Role)

	next, err := a.Refresh(ctx, auth.RefreshRequest{RefreshToken: pair.RefreshToken})
	if err != nil {
		panic(err)
	}
	fmt.Println("rotated:", next.RefreshToken != pair.RefreshToken)

	if err := a.Logout(ctx, claims); err != nil {
		panic(err)
	}
	_, err = a.Authenticate(ctx, next.AccessToken)
	fmt.Println("after logout:", errors.Is(err, auth.ErrTokenRevoked))
	_, err = a.Refresh(ctx, auth.RefreshRequest{RefreshToken: next.RefreshToken})
	fmt.Println("refresh after logout:", errors.Is(err, auth.ErrInvalidToken))

	// Output:
	// registered: kate@example.com viewer
	// authenticated: true viewer
	// rotated: true
	// after logout: true
	// refresh after logout: true
}

// Wrong passwords and unknown emails get the same error.
func ExampleAuthenticator_Login() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	key, _ := auth.GenerateKey(auth.EdDSA)
	keys, _ := auth.NewKeySet(key)
	a, _ := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st, Logger: slog.New(slog.DiscardHandler)})
	_, _ = a.Register(ctx, auth.RegisterRequest{Email: "kate@example.com", Password: "correct horse battery staple"})

	_, _, err1 := a.Login(ctx, auth.LoginRequest{Email: "kate@example.com", Password: "wrong horse battery staple"})
	_, _, err2 := a.Login(ctx, auth.LoginRequest{Email: "nobody@example.com", Password: "correct horse battery staple"})
	fmt.Println(err1)
	fmt.Println(err1 == err2)
	// Output:
	// auth: invalid email or password
	// true
}

// A key set that signs with a new key and still verifies tokens of the
// previous one, and its JWKS document for other services.
func ExampleNewKeySet() {
	previous, _ := auth.GenerateKey(auth.EdDSA)
	current, _ := auth.GenerateKey(auth.EdDSA)
	keys, err := auth.NewKeySet(current, previous)
	if err != nil {
		panic(err)
	}
	fmt.Println(keys.SigningKey() == current, len(keys.Keys()))
	// Output: true 2
}

func ExamplePasswordPolicy_Check() {
	var p auth.PasswordPolicy // the zero value is the NIST SP 800-63B default
	fmt.Println(p.Check("Dragon2024!", "kate@example.com"))
	fmt.Println(p.Check("kate@example.com", "kate@example.com"))
	fmt.Println(p.Check("short", ""))
	fmt.Println(p.Check("purple elephants dance at noon", "kate@example.com"))
	// Output:
	// auth: password is too common
	// auth: password is too close to the email address or service name
	// auth: password is too short
	// <nil>
}
