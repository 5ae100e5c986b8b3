package load

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcUsage is what /proc says about the server process at one moment.
type ProcUsage struct {
	CPUTicks uint64 // utime + stime, in clock ticks
	RSSBytes uint64 // VmRSS
}

// ProcReader reads the CPU time and resident set of one process from a
// /proc tree. Root is "/proc" outside tests.
type ProcReader struct {
	Root string
	PID  int
}

// Read returns the process's CPU ticks and RSS now.
func (r ProcReader) Read() (ProcUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", r.Root, r.PID))
	if err != nil {
		return ProcUsage{}, fmt.Errorf("read server cpu time: %w", err)
	}
	ticks, err := parseStatCPU(stat)
	if err != nil {
		return ProcUsage{}, fmt.Errorf("pid %d: %w", r.PID, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", r.Root, r.PID))
	if err != nil {
		return ProcUsage{}, fmt.Errorf("read server rss: %w", err)
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return ProcUsage{}, fmt.Errorf("pid %d: %w", r.PID, err)
	}
	return ProcUsage{CPUTicks: ticks, RSSBytes: rss}, nil
}

// parseStatCPU returns utime + stime from the contents of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may itself contain
// spaces and parentheses, so the fields are counted from the last ')'.
func parseStatCPU(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	// After ") " come field 3 (state) onwards; utime and stime are fields
	// 14 and 15 of proc(5), so indexes 11 and 12 here.
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc stat utime: %w", err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc stat stime: %w", err)
	}
	return utime + stime, nil
}

// parseStatusRSS returns VmRSS in bytes from /proc/<pid>/status.
func parseStatusRSS(status []byte) (uint64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status: VmRSS %q: want \"<n> kB\"", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("/proc status: no VmRSS line (a kernel thread or an exited process)")
}

// atClkTck is AT_CLKTCK, the auxiliary vector entry holding the kernel's
// USER_HZ: the unit of utime and stime in /proc/<pid>/stat.
const atClkTck = 17

// defaultClockTicks is USER_HZ on every Linux architecture Go supports; it
// is used only when the auxiliary vector cannot be read.
const defaultClockTicks = 100

// ClockTicks returns USER_HZ as the kernel handed it to this process (what
// sysconf(_SC_CLK_TCK) returns in C), read from /proc/self/auxv; 100 when
// that file cannot be read.
func ClockTicks() int64 {
	auxv, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultClockTicks
	}
	if hz, ok := parseAuxvClockTicks(auxv, strconv.IntSize/8); ok {
		return hz
	}
	return defaultClockTicks
}

// parseAuxvClockTicks finds AT_CLKTCK in an auxiliary vector of native
// words of wordSize bytes (pairs of type and value, ending with type 0).
func parseAuxvClockTicks(auxv []byte, wordSize int) (int64, bool) {
	word := func(b []byte) uint64 {
		if wordSize == 4 {
			return uint64(binary.NativeEndian.Uint32(b))
		}
		return binary.NativeEndian.Uint64(b)
	}
	for i := 0; i+2*wordSize <= len(auxv); i += 2 * wordSize {
		typ, val := word(auxv[i:]), word(auxv[i+wordSize:])
		switch {
		case typ == 0:
			return 0, false
		case typ == atClkTck && val > 0:
			return int64(val), true
		}
	}
	return 0, false
}
