package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/audit"
	"github.com/maestro-ml/auth/migrate"
	"github.com/maestro-ml/auth/store/bunstore"
	"github.com/maestro-ml/auth/store/bunstore/internal/dbtest"
)

// Example stores users and sessions in PostgreSQL. Open db with
// pgdriver and pgdialect as in the package documentation; here it is this
// test run's own schema.
func Example() {
	ctx := context.Background()
	db := openPostgres(postgresURL(), pg.Schema)
	defer db.Close()

	if err := migrate.Up(ctx, db, migrate.WithLogger(dbtest.Logger())); err != nil {
		log.Fatal(err)
	}
	st, err := bunstore.New(db)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close() // stops the janitor; db stays open

	key, _ := auth.GenerateKey(auth.EdDSA)
	keys, _ := auth.NewKeySet(key)
	a, err := auth.New(auth.Config{Keys: keys, Users: st, Tenants: st, Sessions: st, Revocations: st, Logger: dbtest.Logger()})
	if err != nil {
		log.Fatal(err)
	}

	u, err := a.Register(ctx, auth.RegisterRequest{Email: "Ada@Example.com", Password: "correct horse battery staple"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Email)

	_, err = a.Register(ctx, auth.RegisterRequest{Email: "ada@example.COM", Password: "another good passphrase"})
	fmt.Println(errors.Is(err, auth.ErrEmailTaken))

	pair, _, err := a.Login(ctx, auth.LoginRequest{Email: "ada@example.com", Password: "correct horse battery staple"})
	if err != nil {
		log.Fatal(err)
	}
	c, err := a.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.UserID == u.ID)
	// Output:
	// ada@example.com
	// true
	// true
}

// Example_auditEvents records events through an audit.Async, as
// Config.Events would, and reads a tenant's audit log back, newest first.
func Example_auditEvents() {
	ctx := context.Background()
	db := openPostgres(postgresURL(), pg.Schema)
	defer db.Close()
	if err := migrate.Up(ctx, db, migrate.WithLogger(dbtest.Logger())); err != nil {
		log.Fatal(err)
	}
	st, err := bunstore.New(db, bunstore.WithAuditRetention(365*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	events, err := audit.NewAsync(st, audit.AsyncConfig{}) // for auth.Config.Events
	if err != nil {
		log.Fatal(err)
	}
	tenant, user := uuid.NewString(), uuid.NewString()
	events.Record(ctx, auth.Event{Type: auth.EventLoginFailed, Time: time.Now(), TenantID: tenant, UserID: user, Reason: "invalid_credentials"})
	events.Record(ctx, auth.Event{Type: auth.EventLoginSucceeded, Time: time.Now(), TenantID: tenant, UserID: user})
	if err := events.Shutdown(ctx); err != nil { // writes what is buffered
		log.Fatal(err)
	}

	page, err := st.AuditEvents(ctx, auth.EventQuery{TenantID: tenant, UserID: user, Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range page {
		fmt.Printf("%s %q\n", e.Type, e.Reason)
	}
	// Output:
	// login.succeeded ""
	// login.failed "invalid_credentials"
}
