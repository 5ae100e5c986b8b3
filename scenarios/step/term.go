package step

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal (an *os.File on a tty).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Style decides colour, emoji and spinner for the human reporter.
// Colour and emoji go together and switch off with --no-color, a non-empty
// NO_COLOR (https://no-color.org), a non-empty CI, or when the output is
// not a terminal (a log file should not hold escape codes). The spinner
// needs a terminal and no CI: CI logs keep every frame.
func Style(noColorFlag bool, getenv func(string) string, terminal bool) HumanOptions {
	plain := noColorFlag || getenv("NO_COLOR") != "" || getenv("CI") != "" || !terminal
	return HumanOptions{
		Color:   !plain,
		Spinner: terminal && getenv("CI") == "",
	}
}
