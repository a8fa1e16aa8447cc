// Package errline turns an error into one line a person can act on.
//
// A pipeline's error comes back from the runner as text: the cause, the
// DoFn's error, wrapped in Beam's frames ("job job-001 failed:", "bundle
// inst004 stage-007 failed:", "while executing Process for Plan[...]" and its
// plan, "DoFn[UID:6, PID:e4, Name: ...] failed:", a panic's stack) over a
// dozen lines. Line keeps the program's own context (the text before the
// first frame, e.g. "pipeline failed (nothing was written to ./out)") and the
// innermost cause (the DoFn's error, or a panic's message), on one line, with
// control characters and invalid UTF-8 escaped as strconv.Quote escapes them,
// quoted values over MaxQuoted bytes and the line over MaxBytes cut short
// with "…".
//
// The commands print Line on failure (Print), and the whole error as well
// when the environment variable KMTRAIN_DEBUG is set (EnvDebug).
package errline

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxBytes bounds a line.
	MaxBytes = 300
	// MaxQuoted bounds the bytes of a quoted value kept in a line, and in
	// Quote.
	MaxQuoted = 100
	// EnvDebug is the environment variable that makes Print write the
	// whole error too: KMTRAIN_DEBUG=1.
	EnvDebug = "KMTRAIN_DEBUG"
	// Ellipsis marks what was cut.
	Ellipsis = "…"
)

// Print writes "prog: <Line(err)>" to w, and, when EnvDebug is set to
// anything but "" or "0", the whole error after it. Where the line leaves
// something out and EnvDebug is not set, the line says how to see it.
func Print(w io.Writer, prog string, err error) {
	line := Line(err)
	full := err.Error()
	if debug() {
		fmt.Fprintf(w, "%s: %s\n%s: the full error:\n%s\n", prog, line, prog, full)
		return
	}
	if line != full {
		line += " (" + EnvDebug + "=1 prints the full error)"
	}
	fmt.Fprintf(w, "%s: %s\n", prog, line)
}

func debug() bool {
	v := os.Getenv(EnvDebug)
	return v != "" && v != "0"
}

// Line returns err as one line: Clean(Cause(err.Error()), MaxBytes).
func Line(err error) string {
	if err == nil {
		return ""
	}
	return Clean(Cause(err.Error()), MaxBytes)
}

// fullError follows a Beam error's top-level message.
const fullError = "\nFull error:\n"

// Beam's frames: the text it wraps an error in.
var (
	frame = regexp.MustCompile(`job \S+ failed:\s*|` +
		`bundle \S+ \S+ failed:\s*|` +
		`process bundle failed for instruction \S+ using plan \S+ :\s*|` +
		`while executing Process for Plan\[|` +
		`DoFn\[UID:[^\]]*\] failed:\s*|` +
		`source failed processing data\s*`)
	doFnFailed = regexp.MustCompile(`(?m)^DoFn\[UID:[^\]]*\] failed:\s*`) // Beam's frame, not a quoted input's text
	causedBy   = regexp.MustCompile(`\s*\n\s*caused by:\s*\n\s*`)
	stack      = regexp.MustCompile(`\s+goroutine \d+ \[`)
)

// Cause returns the program's context and the innermost cause of an error's
// text, without Beam's frames. Text without Beam's frames is returned as is.
func Cause(s string) string {
	// A top-level message (Beam gives a panic one) comes before the rest.
	if k := strings.Index(s, fullError); k >= 0 {
		s = s[:k]
	}
	var loc []int
	if strings.Contains(s, "failed") || strings.Contains(s, "Plan[") { // the regexp is slow on long text
		loc = frame.FindStringIndex(s)
	}
	if loc == nil {
		return strings.TrimSpace(joinCauses(s))
	}
	context := strings.TrimRight(s[:loc[0]], " \t\r\n:")
	rest := s[loc[0]:]
	var cause string
	if m := doFnFailed.FindAllStringIndex(rest, -1); m != nil {
		cause = rest[m[len(m)-1][1]:] // the DoFn's own error, whole
	} else if m := causedBy.FindAllStringIndex(rest, -1); m != nil {
		cause = rest[m[len(m)-1][1]:]
	} else {
		m := frame.FindAllStringIndex(rest, -1)
		cause = rest[m[len(m)-1][1]:]
	}
	for { // frames left at the start
		loc := frame.FindStringIndex(cause)
		if loc == nil || loc[0] != 0 {
			break
		}
		cause = cause[loc[1]:]
	}
	if strings.Contains(cause, "goroutine ") { // a panic's stack
		if loc := stack.FindStringIndex(cause); loc != nil {
			cause = cause[:loc[0]]
		}
	}
	cause = strings.TrimSpace(joinCauses(cause))
	switch {
	case context == "":
		return cause
	case cause == "":
		return context
	}
	return context + ": " + cause
}

// joinCauses writes Beam's "caused by:" lines as ": ".
func joinCauses(s string) string {
	if !strings.Contains(s, "caused by:") {
		return s
	}
	return causedBy.ReplaceAllString(s, ": ")
}

// Clean makes s one line of at most limit bytes (limit <= 0: no limit):
// quoted values (Go's %q) longer than MaxQuoted bytes are cut, line breaks
// become "; " (after a ":", a space), tabs a space, other control characters
// and invalid UTF-8 are escaped as strconv.Quote escapes them, and a line
// longer than limit is cut at a character boundary and ends with Ellipsis.
func Clean(s string, limit int) string {
	var b strings.Builder
	noQuote := 0 // no quoted value starts before this
	for i := 0; i < len(s); {
		if limit > 0 && b.Len() > limit+len(Ellipsis) {
			break // Cut cuts it
		}
		c := s[i]
		switch {
		case c == '"':
			if i >= noQuote {
				end, ok := quoted(s, i)
				if ok {
					escape(&b, cutQuoted(s[i:end], MaxQuoted))
					i = end
					continue
				}
				noQuote = end
			}
			b.WriteByte(c)
			i++
		case c == '\n' || c == '\r':
			j := i
			for j < len(s) && (s[j] == '\n' || s[j] == '\r' || s[j] == '\t' || s[j] == ' ') {
				j++
			}
			out := b.String()
			switch {
			case j == len(s) || out == "":
			case strings.HasSuffix(out, ":") || strings.HasSuffix(out, ";"):
				b.WriteByte(' ')
			default:
				b.WriteString("; ")
			}
			i = j
		case c == '\t':
			b.WriteByte(' ')
			i++
		default:
			j := i + 1
			for j < len(s) && s[j] != '"' && s[j] != '\n' && s[j] != '\r' && s[j] != '\t' {
				j++
			}
			escape(&b, s[i:j])
			i = j
		}
	}
	return Cut(strings.TrimSpace(b.String()), limit)
}

// escape writes s with control characters, other unprintable characters and
// invalid UTF-8 escaped as strconv.Quote escapes them.
func escape(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(b, `\x%02x`, c)
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
}

// Cut returns s cut to at most limit bytes, at a character boundary, ending
// with Ellipsis where it was cut (limit <= 0: s).
func Cut(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	n := max(limit-len(Ellipsis), 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + Ellipsis
}

// Quote returns s quoted as strconv.Quote quotes it, cut to at most
// MaxQuoted bytes of quoted text with Ellipsis inside the quotes: for values
// in error messages, which must stay short whatever the input holds.
func Quote(s string) string {
	n := min(len(s), MaxQuoted)
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	q := strconv.Quote(s[:n])
	if c := cutQuoted(q, MaxQuoted); c != q || n == len(s) {
		return c
	}
	return q[:len(q)-1] + Ellipsis + `"`
}

// quoted reports whether a Go quoted string (as %q writes it) starts at
// s[i], a '"', and where it ends. Where there is none, end is where the
// search stopped: no other starts before it, so that a line of many quotes
// is read once.
func quoted(s string, i int) (end int, ok bool) {
	j := i + 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			j += 2
			continue
		case '\n':
			return j, false
		case '"':
			_, err := strconv.Unquote(s[i : j+1])
			return j + 1, err == nil
		}
		j++
	}
	return len(s), false
}

// cutQuoted cuts a quoted string literal q to at most limit bytes of its
// text, at an escape's boundary.
func cutQuoted(q string, limit int) string {
	if len(q) <= limit+2 {
		return q
	}
	body := q[1 : len(q)-1]
	n := 0
	for n < len(body) {
		rest := body[n:]
		_, _, tail, err := strconv.UnquoteChar(rest, q[0])
		if err != nil {
			return q // not what QuotedPrefix accepted: leave it
		}
		next := n + len(rest) - len(tail)
		if next > limit {
			break
		}
		n = next
	}
	if n >= len(body) {
		return q
	}
	return q[:1+n] + Ellipsis + q[len(q)-1:]
}
