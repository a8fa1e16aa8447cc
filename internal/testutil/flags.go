package testutil

import (
	"flag"
	"testing"
)

// SetFlags sets command-line flags (flag.CommandLine) for one test, puts
// them back when it ends, and returns their names: the flags given
// explicitly, as a command that cares which were given takes them.
func SetFlags(t testing.TB, kv map[string]string) map[string]bool {
	t.Helper()
	explicit := map[string]bool{}
	for k, v := range kv {
		f := flag.Lookup(k)
		if f == nil {
			t.Fatalf("no flag --%s", k)
		}
		old := f.Value.String()
		if err := flag.Set(k, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
		explicit[k] = true
	}
	return explicit
}

// Iter returns an iterator over vs in the form Beam gives a DoFn its
// side inputs and grouped values: each call stores the next value and
// reports whether there was one.
func Iter[T any](vs ...T) func(*T) bool {
	i := 0
	return func(v *T) bool {
		if i >= len(vs) {
			return false
		}
		*v = vs[i]
		i++
		return true
	}
}
