package features

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkNameSlowly is checkName written plainly.
func checkNameSlowly(s string, limit int, keyed bool) string {
	n := len(s)
	if keyed {
		n += 2 * (strings.Count(s, "%") + strings.Count(s, "/"))
	}
	switch {
	case s == "":
		return NameEmpty
	case len(s) > limit:
		return NameTooLong
	case !utf8.ValidString(s):
		return NameInvalidUTF8
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return NameControl
	case n > limit:
		return NameTooLong
	}
	return ""
}

// TestCheckName puts every byte at every place of names around the fast
// path's 8-byte steps, and compares checkName with checkNameSlowly.
func TestCheckName(t *testing.T) {
	for _, size := range []int{1, 7, 8, 9, 17} {
		for pos := 0; pos < size; pos++ {
			for b := 0; b < 256; b++ {
				s := []byte(strings.Repeat("a", size))
				s[pos] = byte(b)
				for _, keyed := range []bool{false, true} {
					for _, limit := range []int{size, size + 1, size + 2} {
						got := ""
						if e := checkName(string(s), limit, keyed, false); e != nil {
							got = e.Problem
						}
						if want := checkNameSlowly(string(s), limit, keyed); got != want {
							t.Fatalf("checkName(%q, %d, %v) = %q, want %q", s, limit, keyed, got, want)
						}
					}
				}
			}
		}
	}
	for _, s := range []string{"é", "a\u0085", "\u2028", "\xed\xa0\x80", "\xf4\x90\x80\x80", "✓✓✓✓✓✓✓✓", "%2F/%25"} {
		for _, keyed := range []bool{false, true} {
			got := ""
			if e := checkName(s, 10, keyed, false); e != nil {
				got = e.Problem
			}
			if want := checkNameSlowly(s, 10, keyed); got != want {
				t.Errorf("checkName(%q, 10, %v) = %q, want %q", s, keyed, got, want)
			}
		}
	}
	if e := CheckProblemType("", true); e != nil {
		t.Errorf("CheckProblemType(\"\", true) = %v", e)
	}
	if e := CheckExercise(strings.Repeat("/", 200)); e == nil || !strings.Contains(e.Error(), "600 bytes escaped, at most 500") {
		t.Errorf("CheckExercise(200 slashes) = %v, want the escaped length (600 bytes) beside the limit", e)
	}
	if KeyBytes("a%b/c") != 9 {
		t.Errorf("KeyBytes(a%%b/c) = %d, want 9", KeyBytes("a%b/c"))
	}
}
