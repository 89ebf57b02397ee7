package redisstore

import "syscall"

// serverProcAttr makes the kernel kill a redis-server if the test binary
// dies without running its cleanups (a panic, a -timeout).
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
