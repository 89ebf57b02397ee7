// Command propagation measures how long a revocation made through one
// instance of the reference server takes to be enforced by another that
// shares its Redis: each round logs in through A, has B accept the access
// token (so B's client-side cache holds "not revoked" for it), logs out
// through A, then polls B until it answers 401. It prints p50, p90, p99 and
// max, measured from the moment A's logout returned and from when it was
// sent. Both servers must trust 127.0.0.1 as a proxy (TRUSTED_PROXIES), so
// that each round can log in from its own X-Forwarded-For address without
// meeting the per-IP login limit. load.sh runs it.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"
)

func main() {
	a := flag.String("a", "http://127.0.0.1:18081", "instance that logs in and revokes")
	b := flag.String("b", "http://127.0.0.1:18082", "instance that must reject the revoked token")
	email := flag.String("email", "load@example.com", "an existing user")
	password := flag.String("password", "", "the user's password")
	rounds := flag.Int("rounds", 200, "rounds to measure")
	flag.Parse()
	if err := run(*a, *b, *email, *password, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "propagation:", err)
		os.Exit(1)
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

func run(a, b, email, password string, rounds int) error {
	var afterReturn, afterSend []time.Duration
	for i := range rounds {
		ip := fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
		token, err := login(a, email, password, ip)
		if err != nil {
			return err
		}
		if code, err := get(b+"/api/v1/hello", token); err != nil || code != http.StatusOK {
			return fmt.Errorf("round %d: B did not accept a fresh token (%d, %v)", i, code, err)
		}
		sent := time.Now()
		if code, err := post(a+"/api/v1/auth/logout", token, nil); err != nil || code != http.StatusNoContent {
			return fmt.Errorf("round %d: logout through A: %d, %v", i, code, err)
		}
		returned := time.Now()
		deadline := returned.Add(5 * time.Second)
		for {
			code, err := get(b+"/api/v1/hello", token)
			if err != nil {
				return err
			}
			if code == http.StatusUnauthorized {
				now := time.Now()
				afterReturn, afterSend = append(afterReturn, now.Sub(returned)), append(afterSend, now.Sub(sent))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("round %d: B still accepted the revoked token after 5 s", i)
			}
		}
	}
	report("after A's logout returned", afterReturn)
	report("after A's logout was sent", afterSend)
	return nil
}

func report(what string, d []time.Duration) {
	slices.Sort(d)
	p := func(q int) time.Duration { return d[(len(d)-1)*q/100] }
	fmt.Printf("propagation %s (%d rounds): p50 %v  p90 %v  p99 %v  max %v\n", what, len(d),
		p(50).Round(time.Microsecond), p(90).Round(time.Microsecond), p(99).Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
}

func login(base, email, password, ip string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		return "", errors.New("login failed: " + resp.Status)
	}
	return out.AccessToken, nil
}

func get(url, token string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func post(url, token string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
