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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables the package reads.
const (
	// EnvRequire, set to 1, turns a missing emulator into a test failure
	// instead of a skip.
	EnvRequire = "KMTRAIN_REQUIRE_EXTERNAL"
	// EnvEmulator overrides where the emulator is looked for: the path of
	// CloudDatastore.jar or of its directory, or "off".
	EnvEmulator = "KMTRAIN_DATASTORE_EMULATOR"
)

// Project is the project id Use returns; the emulator accepts any.
const Project = "kmtrain-test"

// StartTimeout bounds how long Start waits for the emulator to answer.
const StartTimeout = 60 * time.Second

// installHint is how to get the emulator.
const installHint = "install it with `gcloud components install cloud-datastore-emulator` " +
	"or the apt package google-cloud-cli-datastore-emulator (it needs Java 11 or later), " +
	"or set " + EnvEmulator + " to the path of its CloudDatastore.jar"

// errNotInstalled says the emulator or java is missing; Start skips on it.
var errNotInstalled = errors.New("the Cloud Datastore emulator is not installed")

// Emulator is a running Datastore emulator.
type Emulator struct {
	host string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // the process's exit status, once done is closed
	stop sync.Once
}

// Start starts an emulator on 127.0.0.1 at a free port and waits until it
// answers. t.Cleanup stops it. Where the emulator is not installed, Start
// skips the test, or fails it if KMTRAIN_REQUIRE_EXTERNAL=1.
func Start(t testing.TB) *Emulator {
	t.Helper()
	e, err := start()
	if err != nil {
		fail(t, err)
	}
	t.Cleanup(e.Stop)
	return e
}

// fail skips or fails t because the emulator could not be started.
func fail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errNotInstalled) {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, EnvRequire)
		}
		t.Skipf("skipping: %v (set %s=1 to make this a failure)", err, EnvRequire)
	}
	t.Fatalf("datastore emulator: %v", err)
}

// Host returns the emulator's address, "127.0.0.1:PORT": the value
// DATASTORE_EMULATOR_HOST takes.
func (e *Emulator) Host() string { return e.host }

// Use points Datastore clients the test creates at the emulator: it sets
// DATASTORE_EMULATOR_HOST (and DATASTORE_PROJECT_ID) with t.Setenv, so the
// test must not be parallel, and returns the project id to use.
func (e *Emulator) Use(t testing.TB) string {
	t.Helper()
	t.Setenv("DATASTORE_EMULATOR_HOST", e.host)
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
	select {
	case <-e.done:
		return fmt.Errorf("the emulator at %s has exited (%v); its output:\n%s", e.host, e.err, e.out)
	default:
	}
	resp, err := http.Post("http://"+e.host+"/reset", "text/plain", nil)
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

// Stop stops the emulator and every process it started, and waits for them
// to exit. It is safe to call more than once.
func (e *Emulator) Stop() {
	e.stop.Do(func() {
		terminate(e.cmd)
		select {
		case <-e.done:
		case <-time.After(5 * time.Second):
			kill(e.cmd)
			<-e.done
		}
	})
}

// Output returns the last lines the emulator printed, for diagnostics.
func (e *Emulator) Output() string { return e.out.String() }

// start finds the emulator, starts it and waits until it answers. A port
// that another process took between choosing and binding it is retried.
func start() (*Emulator, error) {
	java, jar, err := locate()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		e, err := launch(java, jar, port)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "ddress already in use") {
			break
		}
	}
	return nil, lastErr
}

// locate returns the java binary and the emulator's jar, or an error
// wrapping errNotInstalled that says what is missing and how to install it.
func locate() (java, jar string, err error) {
	jar, err = findJar()
	if err != nil {
		return "", "", err
	}
	java = os.Getenv("JAVA")
	if java == "" {
		java, err = exec.LookPath("java")
		if err != nil {
			return "", "", fmt.Errorf("%w: found %s but no java on PATH; install a Java 11+ runtime", errNotInstalled, jar)
		}
	}
	return java, jar, nil
}

const jarName = "CloudDatastore.jar"

// findJar looks for CloudDatastore.jar where EnvEmulator says, else in the
// Cloud SDK (next to gcloud, CLOUDSDK_ROOT_DIR, the usual install places).
func findJar() (string, error) {
	if p := os.Getenv(EnvEmulator); p != "" {
		if p == "off" || p == "none" {
			return "", fmt.Errorf("%w (%s=%s); %s", errNotInstalled, EnvEmulator, p, installHint)
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			p = filepath.Join(p, jarName)
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", errNotInstalled, EnvEmulator, os.Getenv(EnvEmulator), err)
		}
		return p, nil
	}
	var roots []string
	if r := os.Getenv("CLOUDSDK_ROOT_DIR"); r != "" {
		roots = append(roots, r)
	}
	if g, err := exec.LookPath("gcloud"); err == nil {
		if g, err = filepath.EvalSymlinks(g); err == nil {
			roots = append(roots, filepath.Dir(filepath.Dir(g))) // <root>/bin/gcloud
		}
	}
	roots = append(roots, "/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/opt/google-cloud-sdk")
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, "google-cloud-sdk"))
	}
	var tried []string
	for _, r := range roots {
		p := filepath.Join(r, "platform", "cloud-datastore-emulator", jarName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("%w (looked for %s); %s", errNotInstalled, strings.Join(tried, ", "), installHint)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch runs the emulator on port and waits until it answers.
func launch(java, jar string, port int) (*Emulator, error) {
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(java, "-cp", jar, "com.google.cloud.datastore.emulator.CloudDatastore",
		"start", "--host=127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--testing", "--firestore_in_datastore_mode", "--store_on_disk=false")
	cmd.Dir = os.TempDir()
	e := &Emulator{host: host, cmd: cmd, out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = e.out, e.out
	if err := startProcess(cmd, e.done, &e.err); err != nil {
		return nil, fmt.Errorf("starting %s: %v", java, err)
	}
	if err := e.waitReady(StartTimeout); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// waitReady polls the emulator's health check (GET / answers "Ok").
func (e *Emulator) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-e.done:
			return fmt.Errorf("the emulator exited before answering on %s (%v); its output:\n%s", e.host, e.err, e.out)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.host+"/", nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "Ok" {
				return nil
			}
		} else {
			cancel()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator did not answer on %s within %v; its output:\n%s", e.host, timeout, e.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
		fail(t, shared.err)
	}
	shared.e.Reset(t)
	return shared.e
}
