package features

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Limits on the names a ProblemLog carries. Every key a model is stored under
// must fit Datastore's key names, which are at most 1,500 bytes: the
// ExerciseThetas key "<version>/<exercise>" (a version id is at most 500
// bytes) and the RandomComponent key "<exercise>/<problem_type>/<true|false>",
// in which store escapes every "%" and "/" of the exercise and the problem
// type to three bytes ("%25", "%2F"). An exercise or a problem type is
// therefore measured by its escaped length (KeyBytes): at most 500 bytes
// each, so that 500+1+500+1+5 = 1,007 bytes and 500+1+500 = 1,001 bytes fit
// with room to spare, and so does the indexed exercise property (1,500
// bytes). A user is stored under no key, but is held in memory with every log
// and written to the CSV exports: it is bounded by the same 1,500 bytes.
//
// Names must also be valid UTF-8 (Datastore stores UTF-8 strings, and gRPC
// refuses invalid UTF-8) and hold no control characters (unicode.IsControl:
// C0, DEL and C1, NUL included), which no real id holds and which break the
// CSV and log lines they are written to.
const (
	MaxUserBytes        = 1500
	MaxExerciseBytes    = 500 // in KeyBytes
	MaxProblemTypeBytes = 500 // in KeyBytes

	// MaxNameBytes is the longest any of them may be: a longer string is
	// rejected, and readers need not intern it.
	MaxNameBytes = max(MaxUserBytes, MaxExerciseBytes, MaxProblemTypeBytes)
)

// Problems a name can have: NameError.Problem. They are also the reasons
// bad rows are counted under (problemlogs.ReasonInvalidUTF8, ...).
const (
	NameInvalidUTF8 = "invalid UTF-8"
	NameControl     = "control character"
	NameTooLong     = "value too long"
	NameEmpty       = "missing field" // problemlogs.ReasonMissing
)

// NameError says why a string cannot be a user, an exercise or a problem
// type.
type NameError struct {
	Problem string // one of the Name constants
	Detail  string // short: never the whole value
}

func (e *NameError) Error() string { return e.Problem + ": " + e.Detail }

// KeyBytes returns the length of s in a RandomComponent key name, where "%"
// and "/" are escaped to three bytes each.
func KeyBytes(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '/' {
			n += 2
		}
	}
	return n
}

// CheckUser reports why user cannot be a ProblemLog's user, or nil.
func CheckUser(user string) *NameError { return checkName(user, MaxUserBytes, false, false) }

// CheckExercise reports why exercise cannot be a ProblemLog's exercise, or
// nil.
func CheckExercise(exercise string) *NameError {
	return checkName(exercise, MaxExerciseBytes, true, false)
}

// CheckProblemType reports why problemType cannot be a ProblemLog's problem
// type, or nil. A component key's problem type may be empty (keyed by
// exercise and correct alone): allowEmpty says so.
func CheckProblemType(problemType string, allowEmpty bool) *NameError {
	return checkName(problemType, MaxProblemTypeBytes, true, allowEmpty)
}

// Classes of bytes for checkName.
const (
	bytePlain   = iota
	byteEscaped // '%' or '/': three bytes in a key name
	byteControl // C0 or DEL
	byteUTF8    // not ASCII
)

var byteClass = func() (c [256]uint8) {
	for i := range c {
		switch {
		case i < 0x20 || i == 0x7f:
			c[i] = byteControl
		case i == '%' || i == '/':
			c[i] = byteEscaped
		case i >= utf8.RuneSelf:
			c[i] = byteUTF8
		}
	}
	return c
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasZero reports whether a byte of x is 0.
func hasZero(x uint64) bool { return (x-ones)&^x&highs != 0 }

// plain8 reports whether the 8 bytes of s are ASCII, printable and neither
// '%' nor '/'.
func plain8(s string) bool {
	_ = s[7]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	return x&highs == 0 && // ASCII
		(x-0x20*ones)&highs == 0 && // none below 0x20 (no byte is 0x80 or over)
		!hasZero(x^0x7f*ones) && !hasZero(x^'%'*ones) && !hasZero(x^'/'*ones)
}

// checkName checks that s is not empty (unless allowEmpty), is valid UTF-8,
// holds no control character and is at most limit bytes long, counting "%"
// and "/" as three where keyed. It reads s once; ASCII, nearly every name,
// takes the fast path.
func checkName(s string, limit int, keyed, allowEmpty bool) *NameError {
	if s == "" && !allowEmpty {
		return &NameError{NameEmpty, "empty"}
	}
	escaped := ""
	if keyed {
		escaped = " escaped"
	}
	if len(s) > limit {
		return &NameError{NameTooLong, fmt.Sprintf("%d bytes, at most %d%s", len(s), limit, escaped)}
	}
	n := len(s)
	i := 0
	for ; i+8 <= len(s); i += 8 { // 8 plain bytes at a time
		if !plain8(s[i : i+8]) {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		switch byteClass[c] {
		case bytePlain:
			i++
			continue
		case byteEscaped:
			if keyed {
				n += 2
			}
			i++
			continue
		case byteControl:
			return &NameError{NameControl, fmt.Sprintf("%s at byte %d", strconv.QuoteRune(rune(c)), i)}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return &NameError{NameInvalidUTF8, fmt.Sprintf("byte %d is %#02x", i, c)}
		}
		if unicode.IsControl(r) {
			return &NameError{NameControl, fmt.Sprintf("%s at byte %d", strconv.QuoteRuneToASCII(r), i)}
		}
		i += size
	}
	if n > limit {
		return &NameError{NameTooLong, fmt.Sprintf("%d bytes%s, at most %d", n, escaped, limit)}
	}
	return nil
}
