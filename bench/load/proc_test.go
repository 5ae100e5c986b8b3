package load

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// statLine is a real /proc/<pid>/stat line with utime 1234 and stime 56,
// behind a command name holding spaces and parentheses.
const statLine = "4242 (demo (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 56 0 0 20 0 12 0 100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		desc    string
		stat    string
		want    uint64
		wantErr string
	}{
		{desc: "utime + stime behind a tricky command name", stat: statLine, want: 1290},
		{desc: "no command name", stat: "4242 S 1", wantErr: "no command name"},
		{desc: "truncated", stat: "4242 (demo) S 1 2 3", wantErr: "fields after the command name"},
		{desc: "not a number", stat: "1 (d) S 1 1 1 0 -1 0 0 0 0 0 x 56 0", wantErr: "utime"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.stat))
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	cases := []struct {
		desc    string
		status  string
		want    uint64
		wantErr string
	}{
		{desc: "VmRSS in kB", status: "Name:\tdemo\nVmPeak:\t 9999 kB\nVmRSS:\t   49320 kB\nThreads:\t12\n", want: 49320 * 1024},
		{desc: "no VmRSS (kernel thread)", status: "Name:\tkthreadd\nThreads:\t1\n", wantErr: "no VmRSS"},
		{desc: "unexpected unit", status: "VmRSS:\t 5 MB\n", wantErr: "want"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseStatusRSS([]byte(tc.status))
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestProcReaderReadsAFakeProcTree(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(statLine), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "status"), []byte("VmRSS:\t 1024 kB\n"), 0o600))
	got, err := ProcReader{Root: root, PID: 4242}.Read()
	require.NoError(t, err)
	assert.Equal(t, ProcUsage{CPUTicks: 1290, RSSBytes: 1 << 20}, got)

	_, err = ProcReader{Root: root, PID: 7}.Read()
	assert.ErrorContains(t, err, "read server cpu time")
}

func TestProcReaderReadsThisProcess(t *testing.T) {
	got, err := ProcReader{Root: "/proc", PID: os.Getpid()}.Read()
	require.NoError(t, err)
	assert.Positive(t, got.RSSBytes, "a running test has resident memory")
}

func TestParseAuxvClockTicks(t *testing.T) {
	aux := func(wordSize int, pairs ...uint64) []byte {
		var b []byte
		for _, v := range pairs {
			if wordSize == 4 {
				b = binary.NativeEndian.AppendUint32(b, uint32(v))
			} else {
				b = binary.NativeEndian.AppendUint64(b, v)
			}
		}
		return b
	}
	cases := []struct {
		desc     string
		auxv     []byte
		wordSize int
		want     int64
		ok       bool
	}{
		{desc: "AT_CLKTCK after other entries", auxv: aux(8, 6, 4096, 17, 250, 0, 0), wordSize: 8, want: 250, ok: true},
		{desc: "32-bit words", auxv: aux(4, 17, 100, 0, 0), wordSize: 4, want: 100, ok: true},
		{desc: "AT_NULL before AT_CLKTCK", auxv: aux(8, 6, 4096, 0, 0, 17, 250), wordSize: 8},
		{desc: "truncated vector", auxv: aux(8, 6)[:5], wordSize: 8},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := parseAuxvClockTicks(tc.auxv, tc.wordSize)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestClockTicksIsTheKernelsUserHZ(t *testing.T) {
	// USER_HZ is 100 on every Linux architecture Go supports; reading the
	// auxiliary vector must find that value rather than fall back to it
	// (the fallback is covered by TestParseAuxvClockTicks).
	assert.Equal(t, int64(100), ClockTicks())
}

func TestCPUTime(t *testing.T) {
	assert.Equal(t, 1290*10*time.Millisecond, CPUTime(1290, 100))
	assert.Equal(t, 4*time.Millisecond, CPUTime(1, 250))
	assert.Equal(t, 10*time.Millisecond, CPUTime(1, 0), "unknown rate: USER_HZ 100")
}
