// Package dsemulator starts the real Cloud Datastore emulator for tests.
//
// The emulator is the Java program the Cloud SDK ships
// (platform/cloud-datastore-emulator/CloudDatastore.jar, installed by
// `gcloud components install cloud-datastore-emulator` or the apt package
// google-cloud-cli-datastore-emulator). Start runs that jar directly with
// java, as `gcloud beta emulators datastore start --no-store-on-disk
// --use-firestore-in-datastore-mode` would but without the Python wrapper
// (one process, no wrapper to orphan it): in memory, in Firestore in
// Datastore mode as production databases are (strongly consistent queries,
// transactions of up to 500 entities, no entity-group limit), listening on
// 127.0.0.1 at a free port. It answers in about 1.5 seconds.
//
// Where it is not installed, Start skips the test with a message saying how
// to install it, unless the environment variable KMTRAIN_REQUIRE_EXTERNAL=1
// is set: then a missing emulator fails the test.
//
// The environment variable KMTRAIN_DATASTORE_EMULATOR overrides the search:
// the path of CloudDatastore.jar or of the directory that holds it, or "off"
// to behave as if it were not installed.
//
// A test binary whose tests all need an emulator shares one, started on
// first use and emptied before each test:
//
//	func TestMain(m *testing.M) { dsemulator.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		project := dsemulator.Shared(t).Use(t) // sets DATASTORE_EMULATOR_HOST
//		...
//	}
package dsemulator

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/emulator"
)

// Environment variables the package reads.
const (
	// EnvRequire, set to 1, turns a missing emulator into a test failure
	// instead of a skip.
	EnvRequire = emulator.EnvRequire
	// EnvEmulator overrides where the emulator is looked for: the path of
	// CloudDatastore.jar or of its directory, or "off".
	EnvEmulator = "KMTRAIN_DATASTORE_EMULATOR"
)

// Project is the project id Use returns; the emulator accepts any.
const Project = "kmtrain-test"

// installHint is how to get the emulator.
const installHint = "install it with `gcloud components install cloud-datastore-emulator` " +
	"or the apt package google-cloud-cli-datastore-emulator (it needs Java 11 or later), " +
	"or set " + EnvEmulator + " to the path of its CloudDatastore.jar"

// Emulator is a running Datastore emulator.
type Emulator struct {
	*emulator.Process
}

// Start starts an emulator on 127.0.0.1 at a free port and waits until it
// answers. t.Cleanup stops it. Where the emulator is not installed, Start
// skips the test, or fails it if KMTRAIN_REQUIRE_EXTERNAL=1.
func Start(t testing.TB) *Emulator {
	t.Helper()
	e, err := start()
	if err != nil {
		emulator.Skip(t, "datastore", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// Use points Datastore clients the test creates at the emulator: it sets
// DATASTORE_EMULATOR_HOST (and DATASTORE_PROJECT_ID) with t.Setenv, so the
// test must not be parallel, and returns the project id to use.
func (e *Emulator) Use(t testing.TB) string {
	t.Helper()
	t.Setenv("DATASTORE_EMULATOR_HOST", e.Host())
	t.Setenv("DATASTORE_PROJECT_ID", Project)
	return Project
}

// Reset empties the emulator: every entity of every project and namespace.
func (e *Emulator) Reset(t testing.TB) {
	t.Helper()
	if err := e.reset(); err != nil {
		t.Fatalf("datastore emulator: %v", err)
	}
}

func (e *Emulator) reset() error {
	if err := e.Exited(); err != nil {
		return err
	}
	resp, err := http.Post("http://"+e.Host()+"/reset", "text/plain", nil)
	if err != nil {
		return fmt.Errorf("reset: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset: %s: %s", resp.Status, body)
	}
	return nil
}

// start finds the emulator, starts it and waits until it answers.
func start() (*Emulator, error) {
	jar, err := findJar()
	if err != nil {
		return nil, err
	}
	java, err := emulator.Java()
	if err != nil {
		return nil, fmt.Errorf("the Cloud Datastore emulator (%s) needs %w", jar, err)
	}
	p, err := emulator.Start(func(port int) []string {
		return []string{java, "-cp", jar, "com.google.cloud.datastore.emulator.CloudDatastore",
			"start", "--host=127.0.0.1", fmt.Sprintf("--port=%d", port),
			"--testing", "--firestore_in_datastore_mode", "--store_on_disk=false"}
	})
	if err != nil {
		return nil, err
	}
	return &Emulator{p}, nil
}

const jarName = "CloudDatastore.jar"

// findJar looks for CloudDatastore.jar where EnvEmulator says, else in the
// Cloud SDK.
func findJar() (string, error) {
	if p := os.Getenv(EnvEmulator); p != "" {
		if p == "off" || p == "none" {
			return "", fmt.Errorf("the Cloud Datastore emulator is %w (%s=%s); %s", emulator.ErrNotInstalled, EnvEmulator, p, installHint)
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			p = filepath.Join(p, jarName)
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("the Cloud Datastore emulator is %w: %s=%s: %v", emulator.ErrNotInstalled, EnvEmulator, os.Getenv(EnvEmulator), err)
		}
		return p, nil
	}
	p, err := emulator.FindSDKFile(filepath.Join("platform", "cloud-datastore-emulator", jarName))
	if err != nil {
		return "", fmt.Errorf("the Cloud Datastore emulator is %w; %s", err, installHint)
	}
	return p, nil
}

// The emulator shared by a test binary (Main and Shared).
var shared struct {
	mu      sync.Mutex
	inMain  bool
	started bool
	e       *Emulator
	err     error
}

// Main runs a test binary's tests, then stops the emulator Shared started,
// if any, and exits with the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { dsemulator.Main(m) }
func Main(m *testing.M) { os.Exit(MainRet(m.Run)) }

// MainRet is Main for a TestMain that runs the tests through something
// else (such as Beam's ptest.MainRet): it calls run, which runs the tests,
// stops the shared emulator and returns run's exit code.
//
//	func TestMain(m *testing.M) {
//		os.Exit(dsemulator.MainRet(func() int { return ptest.MainRetWithDefault(m, "prism") }))
//	}
func MainRet(run func() int) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := run()
	shared.mu.Lock()
	if shared.e != nil {
		shared.e.Stop()
	}
	shared.mu.Unlock()
	return code
}

// Shared returns the emulator shared by the tests of the binary, starting it
// on first use, and empties it (Reset) for the calling test. Tests that use
// it must not run in parallel with each other. It requires Main in the
// package's TestMain, which stops the emulator when the tests are done. Like
// Start, it skips (or fails) the test where the emulator is not installed;
// a failed start is not retried by later tests.
func Shared(t testing.TB) *Emulator {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("dsemulator.Shared needs `func TestMain(m *testing.M) { dsemulator.Main(m) }` in the package's tests")
	}
	if !shared.started {
		shared.started = true
		shared.e, shared.err = start()
	}
	if shared.err != nil {
		emulator.Skip(t, "datastore", shared.err)
	}
	shared.e.Reset(t)
	return shared.e
}
