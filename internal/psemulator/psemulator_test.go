package psemulator

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/emulator"
)

// TestMissing checks that a hidden emulator is reported as not installed,
// with how to install it.
func TestMissing(t *testing.T) {
	for _, v := range []string{"off", t.TempDir()} {
		t.Setenv(EnvEmulator, v)
		_, err := Run()
		if !errors.Is(err, emulator.ErrNotInstalled) || !strings.Contains(err.Error(), "gcloud components install pubsub-emulator") {
			t.Errorf("%s=%s: Run = %v, want not installed with the install hint", EnvEmulator, v, err)
		}
	}
}

// TestStartStop starts the emulator and checks that Stop stops it.
func TestStartStop(t *testing.T) {
	e := Start(t)
	if _, err := http.Get("http://" + e.Host() + "/"); err != nil {
		t.Fatalf("the emulator does not answer: %v", err)
	}
	e.Stop()
	e.Stop()
	if _, err := http.Get("http://" + e.Host() + "/"); err == nil {
		t.Errorf("the emulator still answers after Stop")
	}
}
