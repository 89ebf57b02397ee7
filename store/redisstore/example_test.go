package redisstore_test

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/store/redisstore"
	"github.com/redis/rueidis"
)

func Example() {
	// The test suite may point the example at another server.
	addr := cmp.Or(os.Getenv("AUTH_TEST_REDIS_ADDR"), "127.0.0.1:6379")
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:      []string{addr},
		ConnWriteTimeout: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	store, err := redisstore.New(client, redisstore.WithPrefix("example:"))
	if err != nil {
		log.Fatal(err)
	}
	// store is the auth.Config.Revocations of an Authenticator, which calls
	// Revoke on logout and Revoked on every request. Directly:
	ctx := context.Background()
	q := auth.RevocationQuery{TokenID: uuid.NewString(), SessionID: uuid.NewString(), UserID: uuid.NewString()}
	st, err := store.Revoked(ctx, q) // read from Redis, then cached
	if err != nil {
		log.Fatal(err) // errors.Is(err, auth.ErrUnavailable): fail closed
	}
	fmt.Println("session revoked:", st.SessionRevoked)

	now := time.Now()
	err = store.Revoke(ctx, auth.Revocation{Kind: auth.RevocationSession, ID: q.SessionID, At: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		log.Fatal(err)
	}
	st, err = store.Revoked(ctx, q)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("session revoked:", st.SessionRevoked)
	// Output:
	// session revoked: false
	// session revoked: true
}

// A cluster client: list some or all primaries; keys are routed by slot,
// and one Revoked call reads keys on different nodes.
func ExampleNew_cluster() {
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ShuffleInit: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	store, err := redisstore.New(client, redisstore.WithTimeout(100*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	_ = store // auth.Config{Revocations: store, ...}
}
