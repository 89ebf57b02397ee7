package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/middleware"
)

var (
	errSelf        = errors.New("console: administrators cannot change their own role or deactivate themselves")
	errAboveCaller = errors.New("console: role above the caller's")
)

type usersData struct {
	Users    []*auth.User
	Roles    []auth.Role
	Role     string
	Active   string
	Verified string
	Search   string
	Next     template.URL // the next page, or ""
}

// adminUsers lists the users of the administrator's tenant, filtered by
// role and active flag, a page at a time.
func (c *Console) adminUsers(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.admin(w, r)
	if !ok || err != nil {
		return err
	}
	qs := r.URL.Query()
	q := auth.UserQuery{TenantID: claims.TenantID, Limit: 50}
	d := usersData{Roles: c.a.Roles(), Role: qs.Get("role"), Active: qs.Get("active"), Verified: qs.Get("verified"),
		Search: qs.Get("q")}
	if d.Role != "" {
		if !slices.Contains(d.Roles, auth.Role(d.Role)) {
			return auth.ErrInvalidRole
		}
		q.Role = auth.Role(d.Role)
	}
	for _, f := range []struct {
		v  string
		to **bool
	}{{d.Active, &q.Active}, {d.Verified, &q.Verified}} {
		switch f.v {
		case "":
		case "yes", "no":
			b := f.v == "yes"
			*f.to = &b
		default:
			return auth.ErrInvalidInput
		}
	}
	if d.Search != "" {
		if !auth.ValidSearch(d.Search) {
			return auth.ErrInvalidInput
		}
		q.Search = d.Search
	}
	if after := qs.Get("after"); after != "" {
		if !auth.ValidID(after) {
			return auth.ErrInvalidInput
		}
		q.After = after
	}
	users, next, err := c.a.ListUsers(r.Context(), q)
	if err != nil {
		return err
	}
	d.Users = users
	if next != "" {
		v := url.Values{"after": {next}}
		if d.Role != "" {
			v.Set("role", d.Role)
		}
		for k, s := range map[string]string{"active": d.Active, "verified": d.Verified, "q": d.Search} {
			if s != "" {
				v.Set(k, s)
			}
		}
		d.Next = c.href("/admin/users", v)
	}
	return c.render(w, r, http.StatusOK, "admin-users", view{Title: "Users", Me: claims, Data: d})
}

type userData struct {
	User     *auth.User
	Sessions []*auth.Session
	Factors  []string
	Events   []auth.Event
	Roles    []auth.Role
	Self     bool
}

// adminUser shows one user of the tenant: their sessions, second factors
// and latest audit events, with the actions on them.
func (c *Console) adminUser(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.admin(w, r)
	if !ok || err != nil {
		return err
	}
	return c.showUser(w, r, claims, http.StatusOK, "")
}

func (c *Console) showUser(w http.ResponseWriter, r *http.Request, claims *auth.Claims, status int, msg string) error {
	ctx := r.Context()
	u, err := c.tenantUser(r, claims)
	if err != nil {
		return err
	}
	sessions, err := c.a.Sessions(ctx, u.ID)
	if err != nil {
		return err
	}
	factors, err := c.a.SecondFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	events, _, err := c.a.AuditEvents(ctx, auth.EventQuery{TenantID: claims.TenantID, UserID: u.ID, Limit: 20})
	if err != nil && !errors.Is(err, auth.ErrUnavailable) {
		return err
	}
	return c.render(w, r, status, "admin-user", view{Title: u.Email, Me: claims, Error: msg, Data: userData{
		User: u, Sessions: sessions, Factors: factors, Events: events, Roles: c.a.Roles(), Self: u.ID == claims.UserID}})
}

// tenantUser returns the user named by the path, of the caller's tenant.
func (c *Console) tenantUser(r *http.Request, claims *auth.Claims) (*auth.User, error) {
	id := r.PathValue("id")
	if !auth.ValidID(id) {
		return nil, auth.ErrUserNotFound
	}
	return c.a.User(r.Context(), claims.TenantID, id)
}

// aboveCaller reports whether role ranks above the caller's.
func (c *Console) aboveCaller(claims *auth.Claims, role auth.Role) bool {
	return slices.Contains(c.a.Roles(), role) && !c.a.RoleAtLeast(claims.Role, role)
}

// adminAction applies one action to a user of the tenant: role, activate,
// deactivate, unlock, reset-factors or end-sessions. An administrator
// cannot change their own role or deactivate themselves, nor act on a
// user whose role is above theirs. Each action is audited with the
// administrator as the actor.
func (c *Console) adminAction(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.admin(w, r)
	if !ok || err != nil {
		return err
	}
	ctx := context.WithoutCancel(r.Context())
	u, err := c.tenantUser(r, claims)
	if err != nil {
		return err
	}
	if c.aboveCaller(claims, u.Role) {
		return errAboveCaller
	}
	self := u.ID == claims.UserID
	back := "/admin/users/" + u.ID
	var upd auth.UpdateUserRequest
	done := "updated"
	switch action := r.PostForm.Get("action"); action {
	case "role":
		role := auth.Role(r.PostForm.Get("role"))
		if self {
			return errSelf
		}
		if !slices.Contains(c.a.Roles(), role) {
			return auth.ErrInvalidRole
		}
		if c.aboveCaller(claims, role) {
			return errAboveCaller
		}
		upd.Role = &role
	case "activate", "deactivate":
		if self {
			return errSelf
		}
		active := action == "activate"
		upd.Active = &active
		done = action + "d"
	case "unlock":
		if err := c.a.Unlock(ctx, u.Email); err != nil {
			return err
		}
		return c.redirect(w, r, back, "unlocked")
	case "reset-factors":
		if self {
			return errSelf
		}
		if err := c.a.ResetSecondFactors(ctx, claims.TenantID, u.ID); err != nil {
			return err
		}
		return c.redirect(w, r, back, "factors")
	case "end-sessions":
		if err := c.a.LogoutAll(ctx, u.ID); err != nil {
			return err
		}
		if self {
			c.clearSession(w)
			return c.redirect(w, r, "/sign-in", "everywhere")
		}
		return c.redirect(w, r, back, "ended")
	default:
		return auth.ErrInvalidInput
	}
	if _, err := c.a.UpdateUser(ctx, claims.TenantID, u.ID, upd); err != nil {
		return err
	}
	return c.redirect(w, r, back, done)
}

type auditData struct {
	Events     []auth.Event
	Filter     auditFilter
	Next       template.URL // the next page, or ""
	CSV, JSONL template.URL // the exports of the filtered events
}

type auditFilter struct {
	Type, User, Since, Until string
}

// dateLayout is the value of an HTML date input.
const dateLayout = "2006-01-02"

// auditQuery reads the filters of the audit pages: type, user (an ID),
// since and until (dates, UTC; until includes its whole day).
func auditQuery(r *http.Request, claims *auth.Claims) (auth.EventQuery, auditFilter, error) {
	qs := r.URL.Query()
	f := auditFilter{Type: qs.Get("type"), User: qs.Get("user"), Since: qs.Get("since"), Until: qs.Get("until")}
	q := auth.EventQuery{TenantID: claims.TenantID, Type: auth.EventType(f.Type), Limit: 50}
	if len(f.Type) > 100 {
		return q, f, auth.ErrInvalidInput
	}
	if f.User != "" {
		if !auth.ValidID(f.User) {
			return q, f, auth.ErrInvalidInput
		}
		q.UserID = f.User
	}
	if f.Since != "" {
		t, err := time.Parse(dateLayout, f.Since)
		if err != nil {
			return q, f, auth.ErrInvalidInput
		}
		q.Since = t
	}
	if f.Until != "" {
		t, err := time.Parse(dateLayout, f.Until)
		if err != nil {
			return q, f, auth.ErrInvalidInput
		}
		q.Until = t.AddDate(0, 0, 1)
	}
	if before := qs.Get("before"); before != "" {
		if !auth.ValidID(before) {
			return q, f, auth.ErrInvalidInput
		}
		q.Before = before
	}
	return q, f, nil
}

func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"type": f.Type, "user": f.User, "since": f.Since, "until": f.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// adminAudit shows the tenant's audit log, newest first, filtered.
func (c *Console) adminAudit(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.admin(w, r)
	if !ok || err != nil {
		return err
	}
	q, f, err := auditQuery(r, claims)
	if err != nil {
		return err
	}
	events, next, err := c.a.AuditEvents(r.Context(), q)
	if err != nil {
		return err
	}
	d := auditData{Events: events, Filter: f}
	for format, to := range map[string]*template.URL{"csv": &d.CSV, "jsonl": &d.JSONL} {
		v := f.values()
		v.Set("format", format)
		*to = c.href("/admin/audit/export", v)
	}
	if next != "" {
		v := f.values()
		v.Set("before", next)
		d.Next = c.href("/admin/audit", v)
	}
	return c.render(w, r, http.StatusOK, "admin-audit", view{Title: "Audit log", Me: claims, Data: d})
}

// href returns the link to a page of the console with a query. Typed as
// a URL so that html/template does not escape the query a second time;
// it is built here from url.Values, never from raw input.
func (c *Console) href(page string, q url.Values) template.URL {
	return template.URL(c.path(page) + "?" + q.Encode())
}

// exportColumns are the CSV export's columns, in order.
var exportColumns = []string{"id", "time", "type", "user_id", "actor_id", "session_id", "ip", "user_agent", "reason"}

// adminAuditExport streams every event matching the filters, newest first,
// as CSV (format=csv) or JSON Lines (format=jsonl), page by page so that
// memory stays flat however long the log.
func (c *Console) adminAuditExport(w http.ResponseWriter, r *http.Request) error {
	claims, r, ok, err := c.admin(w, r)
	if !ok || err != nil {
		return err
	}
	q, _, err := auditQuery(r, claims)
	if err != nil {
		return err
	}
	q.Limit = 100
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "jsonl" {
		return auth.ErrInvalidInput
	}
	// The first page is read before anything is written, so that a
	// failure still gets an error page.
	events, next, err := c.a.AuditEvents(r.Context(), q)
	if err != nil {
		return err
	}
	name := "audit-" + c.now().UTC().Format("20060102T150405Z")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	} else {
		w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.jsonl"`)
	}
	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	if format == "csv" {
		_ = cw.Write(exportColumns)
	}
	for {
		for _, e := range events {
			if format == "csv" {
				_ = cw.Write([]string{e.ID, e.Time.UTC().Format(time.RFC3339Nano), cell(string(e.Type)), e.UserID,
					e.ActorID, e.SessionID, cell(e.IP), cell(e.UserAgent), cell(e.Reason)})
				continue
			}
			if err := enc.Encode(middleware.NewEventJSON(e)); err != nil {
				return nil // the browser went away
			}
		}
		cw.Flush()
		if cw.Error() != nil || next == "" {
			return nil
		}
		q.Before = next
		if events, next, err = c.a.AuditEvents(r.Context(), q); err != nil {
			// Headers are sent: the log has the cause, the browser a
			// cut-short file.
			c.c.log.ErrorContext(r.Context(), "console: audit export cut short", "error", err)
			return nil
		}
	}
}

// cell defuses a CSV cell that a spreadsheet would run as a formula
// (OWASP "CSV injection"): a leading =, +, -, @, tab or carriage return
// gets a leading apostrophe.
func cell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
