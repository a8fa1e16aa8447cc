// Package chromium renders local HTML pages in headless Chromium for tests.
//
// Find locates a Chromium or Chrome binary: the path in the environment
// variable KMTRAIN_CHROMIUM if it is set (set it to "off" or to a path that
// does not exist to hide Chromium), else the first of chromium,
// chromium-browser, google-chrome and google-chrome-stable on PATH. Where
// none is found it skips the test with a message saying how to install one
// (`apt-get install chromium`), unless KMTRAIN_REQUIRE_EXTERNAL=1: then it
// fails the test.
//
// DumpDOM and Screenshot run one browser process per call:
//
//	chromium --headless --no-sandbox --disable-gpu --user-data-dir=TMP \
//		--window-size=W,H (--dump-dom | --screenshot=FILE) file:///page.html
//
// with a fresh temporary profile, in a process group of its own that is
// killed when the call returns or its context ends (DefaultTimeout when the
// context has no deadline). What the browser prints on stderr (D-Bus and GPU
// complaints are usual in containers) is ignored unless the call fails, when
// its last lines are part of the error.
package chromium

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Environment variables the package reads.
const (
	// EnvChromium overrides the search for a browser: the path of a
	// Chromium or Chrome binary, or "off" to behave as if none were
	// installed.
	EnvChromium = "KMTRAIN_CHROMIUM"
	// EnvRequire, set to 1, turns a missing browser into a test failure
	// instead of a skip.
	EnvRequire = "KMTRAIN_REQUIRE_EXTERNAL"
)

// DefaultTimeout bounds one browser run whose context has no deadline.
const DefaultTimeout = 60 * time.Second

// Default window size, used where DumpDOM or Screenshot get 0.
const (
	DefaultWidth  = 1280
	DefaultHeight = 1024
)

// names are the binaries Find looks for on PATH, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// installHint says how to get a browser.
const installHint = "install it with `apt-get install chromium` (Debian/Ubuntu), " +
	"or set " + EnvChromium + " to the path of a Chromium or Chrome binary"

// ErrNotInstalled says no browser was found; Find skips the test on it.
var ErrNotInstalled = errors.New("chromium is not installed")

// Find returns the path of a Chromium or Chrome binary, or skips the test
// with a message saying how to install one; with KMTRAIN_REQUIRE_EXTERNAL=1
// it fails the test instead.
func Find(t testing.TB) string {
	t.Helper()
	p, err := Lookup()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, EnvRequire)
		}
		t.Skipf("skipping: %v (set %s=1 to make this a failure)", err, EnvRequire)
	}
	return p
}

// Lookup is Find for code that is not a test: it returns the browser's path
// or an error wrapping ErrNotInstalled that says how to install one.
func Lookup() (string, error) {
	if p, ok := os.LookupEnv(EnvChromium); ok && p != "" {
		if p == "off" || p == "none" {
			return "", fmt.Errorf("%w (%s=%s); %s", ErrNotInstalled, EnvChromium, p, installHint)
		}
		abs, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v; %s", ErrNotInstalled, EnvChromium, p, err, installHint)
		}
		return abs, nil
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: none of %s on PATH; %s", ErrNotInstalled, strings.Join(names, ", "), installHint)
}

// DumpDOM loads page (a local file path or a file:// URL) in headless
// Chromium with a window of width×height pixels (0: the defaults) and
// returns the DOM serialized after the page has loaded and its scripts
// have run.
func DumpDOM(ctx context.Context, bin, page string, width, height int) (string, error) {
	var stdout bytes.Buffer
	if err := run(ctx, bin, page, width, height, &stdout, "--dump-dom"); err != nil {
		return "", err
	}
	if stdout.Len() == 0 {
		return "", fmt.Errorf("chromium --dump-dom %s printed nothing", page)
	}
	return stdout.String(), nil
}

// Screenshot loads page (a local file path or a file:// URL) in headless
// Chromium with a window of width×height pixels (0: the defaults) and
// returns a PNG of the viewport: the top width×height pixels of the page,
// at a device scale factor of 1.
func Screenshot(ctx context.Context, bin, page string, width, height int) ([]byte, error) {
	dir, err := os.MkdirTemp("", "kmtrain-chromium-shot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "screenshot.png")
	if err := run(ctx, bin, page, width, height, nil, "--screenshot="+file, "--hide-scrollbars"); err != nil {
		return nil, err
	}
	png, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("chromium --screenshot %s wrote no image: %v", page, err)
	}
	return png, nil
}

// FileURL returns the file:// URL of a local path (made absolute), or page
// itself if it already is a URL.
func FileURL(page string) (string, error) {
	if strings.HasPrefix(page, "file://") || strings.HasPrefix(page, "about:") || strings.HasPrefix(page, "data:") {
		return page, nil
	}
	abs, err := filepath.Abs(page)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// run runs the browser once on page with the extra flags, stdout going to
// stdout (nil: discarded), and kills its process group when it returns.
func run(ctx context.Context, bin, page string, width, height int, stdout *bytes.Buffer, extra ...string) error {
	u, err := FileURL(page)
	if err != nil {
		return fmt.Errorf("chromium: %v", err)
	}
	if width <= 0 {
		width = DefaultWidth
	}
	if height <= 0 {
		height = DefaultHeight
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	profile, err := os.MkdirTemp("", "kmtrain-chromium-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)

	args := []string{
		"--headless", // the new headless mode since Chrome 132 (--headless=new before)
		"--no-sandbox",
		"--disable-gpu",
		"--disable-dev-shm-usage",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-extensions",
		"--disable-background-networking",
		"--disable-sync",
		"--disable-breakpad",
		"--disable-crash-reporter",
		"--mute-audio",
		"--force-device-scale-factor=1",
		"--user-data-dir=" + profile,
		fmt.Sprintf("--window-size=%d,%d", width, height),
	}
	args = append(args, extra...)
	args = append(args, u)

	cmd := exec.Command(bin, args...)
	if stdout != nil {
		cmd.Stdout = stdout
	}
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	// No D-Bus session to talk to; keeps the noise down.
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=disabled:")
	setGroup(cmd)
	// A helper left in the group (crashpad, a zygote) may hold stdout or
	// stderr open after the browser exits: Wait gives up on them after
	// WaitDelay, and killGroup below ends them.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chromium: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
		killGroup(cmd)
		if errors.Is(err, exec.ErrWaitDelay) {
			err = nil // the browser itself exited successfully
		}
	case <-ctx.Done():
		killGroup(cmd)
		<-done
		return fmt.Errorf("chromium %s on %s: %v; its last output:\n%s", strings.Join(extra, " "), u, ctx.Err(), stderr)
	}
	if err != nil {
		return fmt.Errorf("chromium %s on %s: %v; its last output:\n%s", strings.Join(extra, " "), u, err, stderr)
	}
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }
