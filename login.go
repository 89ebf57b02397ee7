package auth

import (
	"context"
	"errors"
)

// LoginRequest is the input of Login.
type LoginRequest struct {
	Email    string
	Password string
	Client   ClientInfo
}

// Login checks an email and password and starts a session. An unknown
// email costs the same work as a wrong password and returns the same
// ErrInvalidCredentials. A correct password for an inactive user (or
// tenant) gives ErrUserInactive; for an unverified one, with
// Config.RequireVerifiedEmail, ErrEmailNotVerified, and with
// Config.EnumerationSafe, ErrInvalidCredentials. A bcrypt hash, or an
// argon2id hash with old parameters, is replaced on success.
//
// Attempts are limited per client IP and per email address (Config.Limits);
// past the limit Login returns a *RateLimitError before looking at the
// password, so a locked account answers the same whether the password is
// right or wrong, and whether the account exists or not.
func (a *Authenticator) Login(ctx context.Context, r LoginRequest) (_ *TokenPair, _ *User, err error) {
	ctx, end := a.span(ctx, "auth.Login")
	defer end(&err)
	pair, u, subject, event, reason, err := a.login(ctx, r)
	e := Event{Type: event, Reason: reason, IP: r.Client.IP, UserAgent: r.Client.UserAgent}
	if subject != nil {
		e.UserID, e.TenantID = subject.ID, subject.TenantID
	}
	if pair != nil {
		e.SessionID = pair.SessionID
	}
	if event != "" {
		a.emit(ctx, e)
	}
	return pair, u, err
}

// login is Login without the audit event: it returns, besides the result,
// the user the attempt was about (if known), and the event type and reason
// class to record ("" for errors of the infrastructure).
func (a *Authenticator) login(ctx context.Context, r LoginRequest) (pair *TokenPair, u, subject *User, event EventType, reason string, err error) {
	fail := func(et EventType, why string, err error) (*TokenPair, *User, *User, EventType, string, error) {
		return nil, nil, subject, et, why, err
	}
	if err := a.allowIP(ctx, "login", r.Client.IP, a.cfg.Limits.LoginPerIP); err != nil {
		if !errors.Is(err, ErrRateLimited) {
			return fail("", "", err) // the limiter is unavailable: no verdict
		}
		return fail(EventRateLimited, "login_ip", err)
	}
	email, emailErr := NormalizeEmail(r.Email)
	acctKey := "login:acct:" + limitAccount(r.Email)
	if err := a.allow(ctx, acctKey, a.cfg.Limits.LoginPerAccount); err != nil {
		if !errors.Is(err, ErrRateLimited) {
			return fail("", "", err)
		}
		if emailErr == nil {
			subject, _ = a.cfg.Users.UserByEmail(ctx, email) // for the audit record only
		}
		return fail(EventLoginLocked, "account", err)
	}
	defer func() {
		if event == "" { // not judged: the store, the hasher or the request failed
			a.refund(ctx, acctKey, a.cfg.Limits.LoginPerAccount, err)
		}
	}()
	if emailErr == nil {
		subject, err = a.cfg.Users.UserByEmail(ctx, email)
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			return fail("", "", err)
		}
	}
	if subject == nil {
		if err := a.cfg.Hasher.verifyDummy(ctx, r.Password); err != nil {
			return fail("", "", err)
		}
		return fail(EventLoginFailed, "unknown_user", ErrInvalidCredentials)
	}
	ok, rehash, err := a.cfg.Hasher.Verify(ctx, r.Password, subject.PasswordHash)
	switch {
	case errors.Is(err, errMalformedHash):
		// Spend the work anyway: an unusable hash must not answer faster.
		if err := a.cfg.Hasher.verifyDummy(ctx, r.Password); err != nil {
			return fail("", "", err)
		}
		return fail(EventLoginFailed, "unusable_hash", ErrInvalidCredentials)
	case err != nil:
		return fail("", "", err)
	case !ok:
		return fail(EventLoginFailed, "bad_password", ErrInvalidCredentials)
	}
	if a.cfg.EnumerationSafe && !subject.Verified {
		// Answered, and counted, exactly as a wrong password.
		return fail(EventLoginFailed, "unverified", ErrInvalidCredentials)
	}
	if err := a.checkActive(ctx, subject); err != nil {
		return fail(loginFailure(err))
	}
	if a.cfg.Limits.LoginPerAccount.enabled() {
		if err := a.cfg.Limiter.Reset(ctx, acctKey); err != nil {
			return fail("", "", err)
		}
	}
	// A user with a second factor, or one the policy requires to have one,
	// gets a ticket for the second step instead of a session.
	if mfa, err := a.pendingStep(ctx, subject, []Method{MethodPassword}, a.cfg.Now().UTC()); err != nil {
		return fail("", "", err)
	} else if mfa != nil {
		why := "second_factor"
		if mfa.Enroll {
			why = "enrolment"
		}
		return fail(EventMFARequired, why, mfa)
	}
	var newHash *string
	if rehash {
		if h, err := a.cfg.Hasher.Hash(ctx, r.Password); err == nil {
			newHash = &h
		} else {
			a.cfg.Logger.WarnContext(ctx, "auth: password rehash skipped", "user", subject.ID, "error", err)
		}
	}
	now := a.cfg.Now().UTC()
	s, rt, err := a.createSession(ctx, subject, r.Client, now, []Method{MethodPassword})
	if err != nil {
		return fail("", "", err)
	}
	// Read the user again only now that the session exists. A password
	// reset or change, or a deactivation, that landed while the password
	// was being verified either shows here (the hash is no longer the one
	// verified, or the user is inactive), or ran its own session revocation
	// after this session was created and so ended it. The conditional
	// update also keeps a rehash of the old password from overwriting a new
	// one.
	verified := subject.PasswordHash
	u, err = a.cfg.Users.UpdateUser(ctx, "", subject.ID, UserUpdate{LastLoginAt: &now, PasswordHash: newHash, IfPasswordHash: &verified, At: now})
	if err == nil {
		err = a.checkActive(ctx, u)
	}
	if err != nil {
		if rerr := a.endSession(ctx, s, now); rerr != nil {
			return fail("", "", rerr)
		}
		switch {
		case errors.Is(err, ErrConflict), errors.Is(err, ErrUserNotFound):
			return fail(EventLoginFailed, "changed_during_login", ErrInvalidCredentials)
		}
		return fail(loginFailure(err))
	}
	if pair, err = a.issue(u, s, a.cfg.Now().UTC(), rt); err != nil {
		return fail("", "", err)
	}
	reason = ""
	if newHash != nil {
		reason = "password_rehashed"
	}
	return pair, u, u, EventLoginSucceeded, reason, nil
}

// loginFailure classifies an error of checkActive for the audit event.
func loginFailure(err error) (EventType, string, error) {
	switch {
	case errors.Is(err, ErrUserInactive):
		return EventLoginFailed, "inactive", err
	case errors.Is(err, ErrEmailNotVerified):
		return EventLoginFailed, "unverified", err
	}
	return "", "", err
}

// checkActive refuses inactive or unverified users and users of inactive tenants.
func (a *Authenticator) checkActive(ctx context.Context, u *User) error {
	if !u.Active {
		return ErrUserInactive
	}
	if a.cfg.RequireVerifiedEmail && !u.Verified {
		return ErrEmailNotVerified
	}
	t, err := a.cfg.Tenants.Tenant(ctx, u.TenantID)
	if errors.Is(err, ErrTenantNotFound) || (err == nil && !t.Active) {
		return ErrUserInactive
	}
	return err
}
