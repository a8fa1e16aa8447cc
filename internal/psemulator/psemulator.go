// Package psemulator starts the real Cloud Pub/Sub emulator for tests and
// local tools.
//
// The emulator is the Java program the Cloud SDK ships
// (platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar, installed
// by `gcloud components install pubsub-emulator` or the apt package
// google-cloud-cli-pubsub-emulator). Start runs that jar directly with java,
// as `gcloud beta emulators pubsub start --host-port=127.0.0.1:PORT` would
// but without the Python wrapper: in memory, listening on 127.0.0.1 at a
// free port. It answers in about 2 seconds.
//
// Where it is not installed, Start skips the test with a message saying how
// to install it, unless the environment variable KMTRAIN_REQUIRE_EXTERNAL=1
// is set: then a missing emulator fails the test. KMTRAIN_PUBSUB_EMULATOR
// overrides the search: the path of the jar or of the directory that holds
// it, or "off" to behave as if it were not installed.
package psemulator

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/emulator"
)

// EnvEmulator overrides where the emulator is looked for: the path of its
// jar or of the directory that holds it, or "off".
const EnvEmulator = "KMTRAIN_PUBSUB_EMULATOR"

// Project is the project id tests use; the emulator accepts any.
const Project = "kmtrain-test"

// installHint is how to get the emulator.
const installHint = "install it with `gcloud components install pubsub-emulator` " +
	"or the apt package google-cloud-cli-pubsub-emulator (it needs Java 11 or later), " +
	"or set " + EnvEmulator + " to the path of its jar"

// Emulator is a running Pub/Sub emulator.
type Emulator struct {
	*emulator.Process
}

// Start starts an emulator on 127.0.0.1 at a free port and waits until it
// answers. t.Cleanup stops it. Where the emulator is not installed, Start
// skips the test, or fails it if KMTRAIN_REQUIRE_EXTERNAL=1.
func Start(t testing.TB) *Emulator {
	t.Helper()
	e, err := Run()
	if err != nil {
		emulator.Skip(t, "pubsub", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// Use points Pub/Sub clients the test creates at the emulator: it sets
// PUBSUB_EMULATOR_HOST with t.Setenv, so the test must not be parallel, and
// returns the project id to use.
func (e *Emulator) Use(t testing.TB) string {
	t.Helper()
	t.Setenv("PUBSUB_EMULATOR_HOST", e.Host())
	return Project
}

// Run starts an emulator outside a test, for tools such as kmbench; the
// caller stops it. Its error wraps emulator.ErrNotInstalled, with how to
// install it, where it is missing.
func Run() (*Emulator, error) {
	jar, err := findJar()
	if err != nil {
		return nil, err
	}
	java, err := emulator.Java()
	if err != nil {
		return nil, fmt.Errorf("the Pub/Sub emulator (%s) needs %w", jar, err)
	}
	p, err := emulator.Start(func(port int) []string {
		return []string{java, "-jar", jar, "--host=127.0.0.1", fmt.Sprintf("--port=%d", port)}
	})
	if err != nil {
		return nil, err
	}
	return &Emulator{p}, nil
}

// findJar looks for the emulator's jar where EnvEmulator says, else in the
// Cloud SDK.
func findJar() (string, error) {
	dir := os.Getenv(EnvEmulator)
	switch dir {
	case "off", "none":
		return "", fmt.Errorf("the Pub/Sub emulator is %w (%s=%s); %s", emulator.ErrNotInstalled, EnvEmulator, dir, installHint)
	case "":
		d, err := emulator.FindSDKFile(filepath.Join("platform", "pubsub-emulator", "lib"))
		if err != nil {
			return "", fmt.Errorf("the Pub/Sub emulator is %w; %s", err, installHint)
		}
		dir = d
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err != nil {
			return "", fmt.Errorf("the Pub/Sub emulator is %w: %s=%s: %v", emulator.ErrNotInstalled, EnvEmulator, dir, err)
		}
		return dir, nil // the jar itself
	}
	jars, _ := filepath.Glob(filepath.Join(dir, "cloud-pubsub-emulator-*.jar"))
	if len(jars) == 0 {
		return "", fmt.Errorf("the Pub/Sub emulator is %w: no cloud-pubsub-emulator-*.jar in %s; %s", emulator.ErrNotInstalled, dir, installHint)
	}
	return jars[len(jars)-1], nil
}
