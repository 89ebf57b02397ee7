package auth

// HashCount returns how many argon2id computations h has done.
func HashCount(h *Hasher) uint64 { return h.computed.Load() }
