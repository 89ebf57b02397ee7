package auth

// HashCount returns how many argon2id computations h has done.
func HashCount(h *Hasher) uint64 { return h.computed.Load() }

// LimitKeyIP is limitKeyIP, for the black-box tests.
func LimitKeyIP(ip string) string { return limitKeyIP(ip) }
