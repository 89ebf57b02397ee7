package auth

import (
	"context"
	"errors"
)

// ErrNotConfigured is returned by a flow whose optional dependency is
// missing: Config.ActionTokens and Config.Notifier for the account-lifecycle
// flows, Config.AuditLog for AuditEvents.
var ErrNotConfigured = errors.New("auth: this feature is not configured")

func (a *Authenticator) lifecycleReady() error {
	if a.cfg.ActionTokens == nil || a.cfg.Notifier == nil {
		return ErrNotConfigured
	}
	return nil
}

// RequestVerification sends the user a message with a token that verifies
// their email address (valid Config.VerifyTTL; a new request replaces older
// tokens). An already verified user is not sent anything. Register calls
// it when a Notifier is configured.
func (a *Authenticator) RequestVerification(ctx context.Context, userID string) (err error) {
	ctx, end := a.span(ctx, "auth.RequestVerification")
	defer end(&err)
	if err := a.lifecycleReady(); err != nil {
		return err
	}
	u, err := a.cfg.Users.User(ctx, userID)
	if err != nil {
		return err
	}
	if u.Verified {
		return nil
	}
	if err := a.allow(ctx, "verify:acct:"+u.ID, a.cfg.Limits.ResetPerAccount); err != nil {
		return err
	}
	defer func() { a.refund(ctx, "verify:acct:"+u.ID, a.cfg.Limits.ResetPerAccount, err) }()
	if err := a.cfg.ActionTokens.DeleteActionTokens(ctx, u.ID, PurposeVerifyEmail); err != nil {
		return err
	}
	tok, exp, err := a.newActionToken(ctx, PurposeVerifyEmail, u.ID, u.Email, a.cfg.VerifyTTL)
	if err != nil {
		return err
	}
	if err := a.cfg.Notifier.Notify(ctx, Message{Kind: MessageVerifyEmail, To: u.Email, UserID: u.ID, TenantID: u.TenantID, Token: tok, ExpiresAt: exp}); err != nil {
		return err
	}
	a.emit(ctx, Event{Type: EventVerificationRequest, UserID: u.ID, TenantID: u.TenantID})
	return nil
}

// VerifyEmail consumes a verification token and marks the user's address
// verified. A token that is unknown, used, expired, or for an address the
// user no longer has is ErrInvalidToken.
func (a *Authenticator) VerifyEmail(ctx context.Context, token string) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.VerifyEmail")
	defer end(&err)
	if err := a.lifecycleReady(); err != nil {
		return nil, err
	}
	t, u, err := a.lookupActionToken(ctx, PurposeVerifyEmail, token)
	if err != nil {
		return nil, err
	}
	if u.Email != t.Email {
		return nil, errActionToken
	}
	if err := a.consumeActionToken(ctx, t); err != nil {
		return nil, err
	}
	yes, now := true, a.cfg.Now().UTC()
	if u, err = a.cfg.Users.UpdateUser(ctx, "", u.ID, UserUpdate{Verified: &yes, At: now}); err != nil {
		return nil, err
	}
	a.emit(ctx, Event{Type: EventEmailVerified, UserID: u.ID, TenantID: u.TenantID, Reason: "token"})
	return u, nil
}

// RequestPasswordReset sends a password-reset token to the address if it
// belongs to an active user. It returns nil whether or not it does, and
// does the same store work either way (an undeliverable decoy token is
// written for unknown addresses), so neither the answer nor its timing
// reveals which addresses are registered (OWASP ASVS 5.0 V6.4). It is
// rate limited per client and per address (Config.Limits.Reset*).
func (a *Authenticator) RequestPasswordReset(ctx context.Context, email string, client ClientInfo) (err error) {
	ctx, end := a.span(ctx, "auth.RequestPasswordReset")
	defer end(&err)
	if err := a.lifecycleReady(); err != nil {
		return err
	}
	if err := a.allowIP(ctx, "reset", client.IP, a.cfg.Limits.ResetPerIP); err != nil {
		if errors.Is(err, ErrRateLimited) { // not when the limiter is unavailable
			a.emit(ctx, Event{Type: EventRateLimited, Reason: "reset_ip", IP: client.IP, UserAgent: client.UserAgent})
		}
		return err
	}
	if err := a.allow(ctx, "reset:acct:"+limitAccount(email), a.cfg.Limits.ResetPerAccount); err != nil {
		return err
	}
	defer func() { a.refund(ctx, "reset:acct:"+limitAccount(email), a.cfg.Limits.ResetPerAccount, err) }()
	norm, err := NormalizeEmail(email)
	var u *User
	if err == nil {
		u, err = a.cfg.Users.UserByEmail(ctx, norm)
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			return err
		}
	}
	if u == nil || !u.Active {
		// Same store round trip as the real path; the decoy has no user.
		if _, _, err := a.newActionToken(ctx, PurposeResetPassword, "", "", a.cfg.ResetTTL); err != nil {
			return err
		}
		ev := Event{Type: EventPasswordResetAsked, Reason: "unknown_user", IP: client.IP, UserAgent: client.UserAgent}
		if u != nil {
			ev.UserID, ev.TenantID, ev.Reason = u.ID, u.TenantID, "inactive"
		}
		a.emit(ctx, ev)
		return nil
	}
	tok, exp, err := a.newActionToken(ctx, PurposeResetPassword, u.ID, u.Email, a.cfg.ResetTTL)
	if err != nil {
		return err
	}
	if err := a.cfg.Notifier.Notify(ctx, Message{Kind: MessageResetPassword, To: u.Email, UserID: u.ID, TenantID: u.TenantID, Token: tok, ExpiresAt: exp}); err != nil {
		a.cfg.Logger.WarnContext(ctx, "auth: reset message not sent", "user", u.ID, "error", err)
	}
	a.emit(ctx, Event{Type: EventPasswordResetAsked, UserID: u.ID, TenantID: u.TenantID, IP: client.IP, UserAgent: client.UserAgent})
	return nil
}

// ResetPassword consumes a reset token and sets a new password, which must
// pass the policy (checked before the token is used up, so a rejected
// password can be retried with the same token). Every session of the user
// ends, every access token is revoked, and every other pending action
// token (a verification link, an e-mail change) is deleted; the address is
// marked verified, since the token proved control of it. A token sent to
// an address the user no longer has is refused. Errors: ErrInvalidToken,
// a password policy error, ErrUserInactive.
func (a *Authenticator) ResetPassword(ctx context.Context, token, newPassword string) (err error) {
	ctx, end := a.span(ctx, "auth.ResetPassword")
	defer end(&err)
	if err := a.lifecycleReady(); err != nil {
		return err
	}
	t, u, err := a.lookupActionToken(ctx, PurposeResetPassword, token)
	if err != nil {
		return err
	}
	if u.Email != t.Email {
		// Sent to an address the account no longer has.
		return errActionToken
	}
	if !u.Active {
		return ErrUserInactive
	}
	if err := a.cfg.Password.Check(newPassword, u.Email); err != nil {
		return err
	}
	hash, err := a.cfg.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	if err := a.consumeActionToken(ctx, t); err != nil {
		return err
	}
	yes, now := true, a.cfg.Now().UTC()
	if _, err := a.cfg.Users.UpdateUser(ctx, "", u.ID, UserUpdate{PasswordHash: &hash, Verified: &yes, At: now}); err != nil {
		return err
	}
	// A pending e-mail change or older link must not outlive the recovery:
	// an intruder who started an e-mail change would otherwise finish it.
	if err := a.deleteActionTokens(ctx, u.ID); err != nil {
		return err
	}
	if err := a.cutoff(ctx, u.ID, true); err != nil {
		return err
	}
	if err := a.cfg.Limiter.Reset(ctx, "login:acct:"+u.Email); err != nil {
		return err
	}
	a.notifyQuietly(ctx, Message{Kind: MessagePasswordChanged, To: u.Email, UserID: u.ID, TenantID: u.TenantID})
	a.emit(ctx, Event{Type: EventPasswordReset, UserID: u.ID, TenantID: u.TenantID})
	return nil
}

// ChangePassword sets a new password for the user of c after checking the
// current one (attempts count against the login lockout). Every other
// session of the user ends (OWASP ASVS 5.0 V7.4) and pending action tokens
// are deleted; c's session stays.
// Errors: ErrInvalidCredentials, a password policy error, *RateLimitError.
func (a *Authenticator) ChangePassword(ctx context.Context, c *Claims, current, newPassword string) (err error) {
	ctx, end := a.span(ctx, "auth.ChangePassword")
	defer end(&err)
	u, err := a.reauthenticate(ctx, c, current)
	if err != nil {
		return err
	}
	if err := a.cfg.Password.Check(newPassword, u.Email); err != nil {
		return err
	}
	hash, err := a.cfg.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	now := a.cfg.Now().UTC()
	// Conditional on the hash just verified: a reset that landed meanwhile wins.
	if _, err := a.cfg.Users.UpdateUser(ctx, "", u.ID, UserUpdate{PasswordHash: &hash, IfPasswordHash: &u.PasswordHash, At: now}); err != nil {
		if errors.Is(err, ErrConflict) {
			return ErrInvalidCredentials
		}
		return err
	}
	if err := a.deleteActionTokens(ctx, u.ID); err != nil {
		return err
	}
	if err := a.revokeSessions(ctx, SessionRevocation{UserID: u.ID, ExceptID: c.SessionID, At: now}); err != nil {
		return err
	}
	a.notifyQuietly(ctx, Message{Kind: MessagePasswordChanged, To: u.Email, UserID: u.ID, TenantID: u.TenantID})
	a.emit(ctx, Event{Type: EventPasswordChanged, UserID: u.ID, TenantID: u.TenantID, SessionID: c.SessionID})
	return nil
}

// reauthenticate checks the current password of the user of c, under the
// same per-account limit as Login.
func (a *Authenticator) reauthenticate(ctx context.Context, c *Claims, password string) (_ *User, err error) {
	u, err := a.CurrentUser(ctx, c)
	if err != nil {
		return nil, err
	}
	key := "login:acct:" + u.Email
	if err := a.allow(ctx, key, a.cfg.Limits.LoginPerAccount); err != nil {
		return nil, err
	}
	defer func() { a.refund(ctx, key, a.cfg.Limits.LoginPerAccount, err) }()
	ok, _, err := a.cfg.Hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil && !errors.Is(err, errMalformedHash) {
		return nil, err
	}
	if !ok {
		a.emit(ctx, Event{Type: EventLoginFailed, UserID: u.ID, TenantID: u.TenantID, SessionID: c.SessionID, Reason: "reauthentication"})
		return nil, ErrInvalidCredentials
	}
	if !u.Active {
		return nil, ErrUserInactive
	}
	return u, a.cfg.Limiter.Reset(ctx, key)
}

// RequestEmailChange starts moving the user of c to newEmail: after the
// current password is checked, a confirmation token goes to the new
// address and a notice to the current one. Any pending change is
// cancelled. For an address that is already registered, the owner is told
// instead and ErrEmailTaken returned, while the caller's pending change
// and current address are treated as for a free one (the notice is sent),
// so that an enumeration-safe answer hides which it was. The address changes only when
// ConfirmEmailChange is called with that token. Errors:
// ErrInvalidCredentials, ErrInvalidEmail, ErrEmailTaken, *RateLimitError.
func (a *Authenticator) RequestEmailChange(ctx context.Context, c *Claims, password, newEmail string) (err error) {
	ctx, end := a.span(ctx, "auth.RequestEmailChange")
	defer end(&err)
	if err := a.lifecycleReady(); err != nil {
		return err
	}
	email, err := NormalizeEmail(newEmail)
	if err != nil {
		return err
	}
	u, err := a.reauthenticate(ctx, c, password)
	if err != nil {
		return err
	}
	// Limit before revealing anything: otherwise a signed-in user could
	// probe which addresses are registered without bound.
	if err := a.allow(ctx, "change:acct:"+u.ID, a.cfg.Limits.ResetPerAccount); err != nil {
		return err
	}
	defer func() { a.refund(ctx, "change:acct:"+u.ID, a.cfg.Limits.ResetPerAccount, err) }()
	if email == u.Email {
		return ErrEmailTaken
	}
	owner, err := a.cfg.Users.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return err
	}
	// What the caller can observe (its pending change, its own mailbox) is
	// the same whether the address is free or taken: a new request
	// replaces the pending one, and the current address gets the notice.
	// Only the new address's mailbox, not the caller's, tells them apart.
	if err := a.cfg.ActionTokens.DeleteActionTokens(ctx, u.ID, PurposeChangeEmail); err != nil {
		return err
	}
	if owner != nil {
		a.notifyQuietly(ctx, Message{Kind: MessageAccountExists, To: owner.Email, UserID: owner.ID, TenantID: owner.TenantID})
		a.notifyQuietly(ctx, Message{Kind: MessageEmailChangeRequested, To: u.Email, UserID: u.ID, TenantID: u.TenantID})
		a.emit(ctx, Event{Type: EventEmailChangeRequest, UserID: u.ID, TenantID: u.TenantID, SessionID: c.SessionID, Reason: "address_taken"})
		return ErrEmailTaken
	}
	tok, exp, err := a.newActionToken(ctx, PurposeChangeEmail, u.ID, email, a.cfg.VerifyTTL)
	if err != nil {
		return err
	}
	if err := a.cfg.Notifier.Notify(ctx, Message{Kind: MessageChangeEmail, To: email, UserID: u.ID, TenantID: u.TenantID, Token: tok, ExpiresAt: exp}); err != nil {
		return err
	}
	a.notifyQuietly(ctx, Message{Kind: MessageEmailChangeRequested, To: u.Email, UserID: u.ID, TenantID: u.TenantID})
	a.emit(ctx, Event{Type: EventEmailChangeRequest, UserID: u.ID, TenantID: u.TenantID, SessionID: c.SessionID})
	return nil
}

// ConfirmEmailChange consumes an email-change token and moves the user to
// the new, now verified, address. Errors: ErrInvalidToken, ErrEmailTaken
// (someone registered the address meanwhile).
func (a *Authenticator) ConfirmEmailChange(ctx context.Context, token string) (_ *User, err error) {
	ctx, end := a.span(ctx, "auth.ConfirmEmailChange")
	defer end(&err)
	if err := a.lifecycleReady(); err != nil {
		return nil, err
	}
	t, u, err := a.lookupActionToken(ctx, PurposeChangeEmail, token)
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, ErrUserInactive
	}
	if err := a.consumeActionToken(ctx, t); err != nil {
		return nil, err
	}
	yes, now := true, a.cfg.Now().UTC()
	if u, err = a.cfg.Users.UpdateUser(ctx, "", u.ID, UserUpdate{Email: &t.Email, Verified: &yes, At: now}); err != nil {
		return nil, err
	}
	// Links sent to the old address stop working with it.
	if err := a.deleteActionTokens(ctx, u.ID); err != nil {
		return nil, err
	}
	a.emit(ctx, Event{Type: EventEmailChanged, UserID: u.ID, TenantID: u.TenantID})
	return u, nil
}
