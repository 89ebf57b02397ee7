package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// api calls the reference server's endpoints (openapi.yaml) on one of the
// instances and reports every answer to the checker.
type api struct {
	hc    *http.Client
	bases []string
	chk   *Checker
}

// requestTimeout bounds one request. The server's own deadlines are
// shorter (Redis calls 250 ms, the audit wait 2 s, a hashing slot 5 s), so
// a request that takes longer is a server that stopped answering.
const requestTimeout = 20 * time.Second

func newAPI(bases []string, chk *Checker) *api {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &api{hc: &http.Client{Transport: tr, Timeout: requestTimeout}, bases: bases, chk: chk}
}

// reply is an answer, decoded as far as the workload needs.
type reply struct {
	Response
	body []byte
}

// problem is the part of an RFC 9457 problem the checker reads.
type problem struct {
	Code string `json:"code"`
}

// tokens is the token response of login and refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
	User         *struct {
		ID string `json:"id"`
	} `json:"user"`
}

// userBody is the user object of register, me and the admin endpoints.
type userBody struct {
	ID     string `json:"id"`
	Active bool   `json:"active"`
}

// call sends one request to instance inst as the client at ip, with an
// optional bearer token and JSON body, and records the answer.
func (c *api) call(ctx context.Context, kind Kind, inst int, method, path, ip, token string, body any) reply {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	// A request is never cut short: the end of the run stops the
	// workload between requests, so that every answer is judged and
	// every state change seen (a password change in flight must not go
	// unrecorded). requestTimeout bounds it.
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), method, c.bases[inst]+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("User-Agent", "auth-soak")
	r := reply{Response: Response{Kind: kind, Instance: inst, Sent: time.Now()}}
	resp, err := c.hc.Do(req)
	if err == nil {
		r.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		r.Status = resp.StatusCode
	}
	r.Recv = time.Now()
	if err != nil {
		r.Status, r.Err = 0, err
	}
	if r.Status >= 400 {
		var p problem
		_ = json.Unmarshal(r.body, &p)
		r.Code = p.Code
	}
	c.chk.Response(r.Response)
	return r
}

func (r reply) decode(v any) bool { return json.Unmarshal(r.body, v) == nil }
