package dsemulator

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Skipf and Fatalf are recorded.
type recorder struct {
	*testing.T
	skipped, failed bool
	msg             string
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func startWith(t *testing.T) *recorder {
	r := &recorder{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(r)
	}()
	<-done
	return r
}

// TestMissing checks that a missing emulator skips, or fails with
// KMTRAIN_REQUIRE_EXTERNAL=1, with a message saying how to install it.
func TestMissing(t *testing.T) {
	t.Setenv(EnvEmulator, "off")
	t.Setenv(EnvRequire, "")
	if r := startWith(t); !r.skipped || !strings.Contains(r.msg, "gcloud components install cloud-datastore-emulator") {
		t.Errorf("hidden emulator: skipped=%v failed=%v %q", r.skipped, r.failed, r.msg)
	}
	t.Setenv(EnvRequire, "1")
	if r := startWith(t); !r.failed || !strings.Contains(r.msg, EnvRequire) {
		t.Errorf("hidden emulator with %s=1: skipped=%v failed=%v %q", EnvRequire, r.skipped, r.failed, r.msg)
	}
	t.Setenv(EnvEmulator, t.TempDir())
	t.Setenv(EnvRequire, "")
	if r := startWith(t); !r.skipped {
		t.Errorf("%s pointing to an empty directory: skipped=%v failed=%v %q", EnvEmulator, r.skipped, r.failed, r.msg)
	}
}
