package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RequireMFA returns nil if c's login used more than one factor ("mfa" in
// amr), and otherwise an *InsufficientAuthError asking for a second factor
// (RFC 9470 acr_values "mfa").
func (a *Authenticator) RequireMFA(c *Claims) error {
	if c.HasMethod(MethodMFA) {
		return nil
	}
	return &InsufficientAuthError{ACR: string(MethodMFA)}
}

// RequireMFAByPolicy is RequireMFA for the users Config.MFA covers (by the
// role and tenant in c), and nil for the others.
func (a *Authenticator) RequireMFAByPolicy(c *Claims) error {
	if !a.cfg.MFA.requires(&User{Role: c.Role, TenantID: c.TenantID}, a.cfg.Roles) {
		return nil
	}
	return a.RequireMFA(c)
}

// RequireRecentAuth returns nil if the user of c authenticated (logged in
// or stepped up) within maxAge, and, for a user Config.MFA covers, with a
// second factor; otherwise an *InsufficientAuthError with that max_age
// (RFC 9470), and acr_values "mfa" when the policy covers the user. A
// token without auth_time is never recent. To require a recent second
// factor of everyone who has one, check RequireMFA too (factor/totp does
// for its own settings).
func (a *Authenticator) RequireRecentAuth(c *Claims, maxAge time.Duration) error {
	recent := !c.AuthTime.IsZero() && a.cfg.Now().Sub(c.AuthTime) <= maxAge
	policy := a.RequireMFAByPolicy(c)
	if recent && policy == nil {
		return nil
	}
	e := &InsufficientAuthError{}
	if !recent {
		e.MaxAge = maxAge
	}
	if policy != nil {
		e.ACR = string(MethodMFA)
	}
	return e
}

// StepUp re-authenticates the user of c within a live session: verify
// checks a credential and returns its Proof, and the user gets a new
// session whose auth_time is now and whose amr holds the proof's methods
// and, when the proof is a possession factor (a code, a key), the
// password or provider sign-in of c's login, and then "mfa". A password
// step-up gives amr ["pwd"], whatever c had: "mfa" always means a second
// factor proven at auth_time. The old
// session ends, as after a change of privilege (OWASP ASVS 5.0 V7.2.4);
// the client switches to the new token pair. Errors of verify count as in
// VerifyMFA, against Limits.MFAPerAccount.
func (a *Authenticator) StepUp(ctx context.Context, c *Claims, client ClientInfo, verify func(context.Context, *User) (Proof, error)) (_ *TokenPair, err error) {
	ctx, end := a.span(ctx, "auth.StepUp")
	defer end(&err)
	u, err := a.CurrentUser(ctx, c)
	if err != nil {
		return nil, err
	}
	key := mfaAccountKey(u.ID)
	if err := a.allow(ctx, key, a.cfg.Limits.MFAPerAccount); err != nil {
		if errors.Is(err, ErrRateLimited) {
			a.emit(ctx, Event{Type: EventMFALocked, UserID: u.ID, TenantID: u.TenantID, SessionID: c.SessionID, Reason: "step_up"})
		}
		return nil, err
	}
	proof, err := a.stepUpProof(ctx, u, verify)
	if err != nil {
		a.refund(ctx, key, a.cfg.Limits.MFAPerAccount, err)
		if errors.Is(err, ErrInvalidCredentials) {
			a.emit(ctx, Event{Type: EventMFAFailed, UserID: u.ID, TenantID: u.TenantID, SessionID: c.SessionID, Reason: "step_up"})
		}
		return nil, err
	}
	if a.cfg.Limits.MFAPerAccount.enabled() {
		if err := a.cfg.Limiter.Reset(ctx, key); err != nil {
			a.cfg.Logger.WarnContext(ctx, "auth: resetting the second-factor counter failed", "user", u.ID, "error", err)
		}
	}
	return a.replaceSession(ctx, c, u, client, proof)
}

func (a *Authenticator) stepUpProof(ctx context.Context, u *User, verify func(context.Context, *User) (Proof, error)) (Proof, error) {
	if err := a.checkActive(ctx, u); err != nil {
		return Proof{}, err
	}
	p, err := verify(ctx, u)
	if err != nil {
		if errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrInvalidCode) {
			return Proof{}, ErrInvalidCode
		}
		return Proof{}, err
	}
	if !p.valid() || p.UserID != u.ID {
		return Proof{}, errors.New("auth: a credential returned a proof that is not for the session's user")
	}
	return p, nil
}

// stepUpCarried returns the methods of the session's login that a step-up
// with p keeps. auth_time becomes now, so "mfa" must mean that a second
// factor was proven now: a possession proof (a code, a key) keeps the
// session's password or provider sign-in, and the pair is multi-factor; a
// password or provider proof keeps nothing, so a password step-up of a
// multi-factor session is a password-only session, and a stolen token
// plus the password can never pass for a fresh second factor.
func stepUpCarried(old []Method, p Proof) []Method {
	for _, m := range p.Methods {
		if factorClass(m) != "have" {
			return nil
		}
	}
	var keep []Method
	for _, m := range old {
		if c := factorClass(m); c == "know" || c == "fed" {
			keep = append(keep, m)
		}
	}
	return keep
}

// replaceSession starts the stepped-up session and ends c's.
func (a *Authenticator) replaceSession(ctx context.Context, c *Claims, u *User, client ClientInfo, p Proof) (*TokenPair, error) {
	now := a.cfg.Now().UTC()
	amr := combineMethods(stepUpCarried(c.AMR, p), p)
	pair, u, err := a.startSession(ctx, u, client, amr, now)
	if err != nil {
		return nil, err
	}
	if err := a.revokeSessions(ctx, SessionRevocation{UserID: u.ID, SessionID: c.SessionID, At: now}); err != nil {
		if rerr := a.revokeSessions(ctx, SessionRevocation{UserID: u.ID, SessionID: pair.SessionID, At: now}); rerr != nil {
			a.cfg.Logger.WarnContext(ctx, "auth: ending a stepped-up session after a failure failed", "session", pair.SessionID, "error", rerr)
		}
		return nil, err
	}
	if err := a.cfg.Revocations.Revoke(ctx, Revocation{Kind: RevocationSession, ID: c.SessionID, At: now, ExpiresAt: a.revocationTTL(now)}); err != nil {
		return nil, err
	}
	ev := Event{UserID: u.ID, TenantID: u.TenantID, SessionID: pair.SessionID, IP: client.IP, UserAgent: client.UserAgent}
	a.emitProof(ctx, ev, p, EventStepUp)
	return pair, nil
}

// StepUpPassword is StepUp with the user's password (under the login
// lockout of Limits.LoginPerAccount): it refreshes auth_time, for
// RequireRecentAuth. A wrong password is ErrInvalidCredentials.
func (a *Authenticator) StepUpPassword(ctx context.Context, c *Claims, password string, client ClientInfo) (_ *TokenPair, err error) {
	ctx, end := a.span(ctx, "auth.StepUpPassword")
	defer end(&err)
	u, err := a.reauthenticate(ctx, c, password)
	if err != nil {
		return nil, err
	}
	if err := a.checkActive(ctx, u); err != nil {
		return nil, err
	}
	return a.replaceSession(ctx, c, u, client, Proof{UserID: u.ID, Methods: []Method{MethodPassword}, Factor: "password"})
}

// StepUpCode is StepUp with a code of a CodeFactor (factor names it; empty
// tries each the user has). A wrong code is ErrInvalidCode.
func (a *Authenticator) StepUpCode(ctx context.Context, c *Claims, factor, code string, client ClientInfo) (*TokenPair, error) {
	fs, err := a.codeFactors(factor)
	if err != nil {
		return nil, err
	}
	return a.StepUp(ctx, c, client, func(ctx context.Context, u *User) (Proof, error) {
		return a.verifyCode(ctx, fs, u, code)
	})
}

// ResetSecondFactors removes every second factor of a tenant's user (an
// administrator's reset for a user who lost theirs), ends all the user's
// sessions and pending tickets, and records EventMFAReset. The user next
// logs in with the password alone, or, if the policy requires a second
// factor, enrols a new one.
func (a *Authenticator) ResetSecondFactors(ctx context.Context, tenantID, userID string) (err error) {
	ctx, end := a.span(ctx, "auth.ResetSecondFactors")
	defer end(&err)
	u, err := a.User(ctx, tenantID, userID)
	if err != nil {
		return err
	}
	if len(a.cfg.SecondFactors) == 0 {
		return fmt.Errorf("%w: no Config.SecondFactors", ErrNotConfigured)
	}
	for _, f := range a.cfg.SecondFactors {
		if err := f.Reset(ctx, u.ID); err != nil {
			return err
		}
	}
	if err := a.cfg.ActionTokens.DeleteActionTokens(ctx, u.ID, PurposeMFA); err != nil {
		return err
	}
	if err := a.cutoff(ctx, u.ID, true); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventMFAReset, UserID: u.ID, TenantID: u.TenantID})
	return nil
}
