//go:build !linux

package procs

import "syscall"

// sysProcAttr: without Pdeathsig, the test's cleanup is what ends a child.
func sysProcAttr() *syscall.SysProcAttr { return nil }
