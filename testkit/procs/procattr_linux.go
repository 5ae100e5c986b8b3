package procs

import "syscall"

// sysProcAttr has the kernel kill a child when the test process dies, even
// by SIGKILL, when no cleanup runs: a server must never outlive its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
