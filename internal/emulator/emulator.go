// Package emulator runs the Cloud SDK's emulators (Datastore, Pub/Sub) for
// tests and local tools: one Java process in its own process group,
// listening on 127.0.0.1 at a free port, stopped with everything it started.
//
// The packages for each emulator (internal/dsemulator,
// internal/psemulator) say where the program is and how it is started;
// this one finds the Cloud SDK, picks the port, waits for the emulator's
// health check ("GET /" answers "Ok"), keeps the last of its output for
// diagnostics and turns a missing emulator into a test skip, or a failure
// under KMTRAIN_REQUIRE_EXTERNAL=1.
package emulator

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

// EnvRequire, set to 1, turns a missing emulator into a test failure
// instead of a skip.
const EnvRequire = "KMTRAIN_REQUIRE_EXTERNAL"

// StartTimeout bounds how long Start waits for an emulator to answer.
const StartTimeout = 60 * time.Second

// ErrNotInstalled says an emulator or java is missing; Skip skips on it.
var ErrNotInstalled = errors.New("not installed")

// Process is a running emulator.
type Process struct {
	host string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // the process's exit status, once done is closed
	stop sync.Once
}

// Start runs the command argv(port) at a free port of 127.0.0.1 and waits
// until it answers its health check. A port another process took between
// choosing and binding it is retried.
func Start(argv func(port int) []string) (*Process, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p, err := launch(argv(port), port)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "ddress already in use") {
			break
		}
	}
	return nil, lastErr
}

// Host returns the emulator's address, "127.0.0.1:PORT": the value
// DATASTORE_EMULATOR_HOST or PUBSUB_EMULATOR_HOST takes.
func (p *Process) Host() string { return p.host }

// Pid returns the emulator's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns the last lines the emulator printed, for diagnostics.
func (p *Process) Output() string { return p.out.String() }

// Exited returns an error if the emulator is no longer running.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("the emulator at %s has exited (%v); its output:\n%s", p.host, p.err, p.out)
	default:
		return nil
	}
}

// Stop stops the emulator and every process it started, and waits for them
// to exit. It is safe to call more than once.
func (p *Process) Stop() {
	p.stop.Do(func() {
		terminate(p.cmd)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			kill(p.cmd)
			<-p.done
		}
	})
}

// launch runs argv and waits until it answers on port.
func launch(argv []string, port int) (*Process, error) {
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = os.TempDir()
	p := &Process{host: host, cmd: cmd, out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := startProcess(cmd, p.done, &p.err); err != nil {
		return nil, fmt.Errorf("starting %s: %v", argv[0], err)
	}
	if err := p.waitReady(StartTimeout); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// waitReady polls the emulator's health check (GET / answers "Ok").
func (p *Process) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.done:
			return fmt.Errorf("the emulator exited before answering on %s (%v); its output:\n%s", p.host, p.err, p.out)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.host+"/", nil)
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
			return fmt.Errorf("the emulator did not answer on %s within %v; its output:\n%s", p.host, timeout, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FindSDKFile returns the path of rel (such as
// "platform/pubsub-emulator/lib") under the Cloud SDK: CLOUDSDK_ROOT_DIR,
// the SDK of the gcloud on PATH, or the usual install places. The error
// wraps ErrNotInstalled and lists where it looked.
func FindSDKFile(rel string) (string, error) {
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
		p := filepath.Join(r, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("%w (looked for %s)", ErrNotInstalled, strings.Join(tried, ", "))
}

// Java returns the java binary: $JAVA, else java on PATH.
func Java() (string, error) {
	if j := os.Getenv("JAVA"); j != "" {
		return j, nil
	}
	j, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("java, which is %w (not on PATH): install a Java 11+ runtime", ErrNotInstalled)
	}
	return j, nil
}

// Skip skips or fails t because an emulator could not be started: an
// error wrapping ErrNotInstalled skips, unless KMTRAIN_REQUIRE_EXTERNAL=1;
// any other error fails.
func Skip(t testing.TB, name string, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, EnvRequire)
		}
		t.Skipf("skipping: %v (set %s=1 to make this a failure)", err, EnvRequire)
	}
	t.Fatalf("%s emulator: %v", name, err)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
